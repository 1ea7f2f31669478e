//! The writer's batches across many conversations: sends spread over many conversations, in concurrent
//! calls (which the writer may commit in shared batches), are each stored if and only if acknowledged,
//! numbered without gaps and in order per conversation (messages and events alike), and a refused item
//! does not fail the others of its call.

use std::collections::HashMap;

use junqo_proto::conversations::v1::create_message_result::Outcome;
use junqo_proto::conversations::v1::{
    Conversation, CreateMessagesRequest, ListEventsSinceRequest, Message, MessageToCreate,
};
use junqo_proto::events::v1::Event;
use junqo_proto::events::v1::event::Payload;
use prost::Message as _;
use secrecy::SecretString;
use tonic::Code;

use crate::helpers::{Actor, SECRET, TestService, spawn};

const CONVERSATIONS: usize = 9;
const ROUNDS: usize = 6;

fn realtime() -> Actor {
    Actor {
        user_id: String::new(),
        token: jwt::ServiceSigner::new(&SecretString::from(SECRET), "realtime")
            .sign(None)
            .expect("signs"),
    }
}

fn item(
    sender: &Actor,
    conversation: &str,
    content: String,
    client: Option<&str>,
) -> MessageToCreate {
    MessageToCreate {
        conversation_id: conversation.to_owned(),
        content,
        token: sender.token.clone(),
        client_message_id: client.map(str::to_owned),
        ..Default::default()
    }
}

async fn create_messages(service: &TestService, items: Vec<MessageToCreate>) -> Vec<Outcome> {
    service
        .messages
        .clone()
        .create_messages(realtime().call(CreateMessagesRequest { items }))
        .await
        .expect("the call succeeds")
        .into_inner()
        .results
        .into_iter()
        .map(|result| result.outcome.expect("an outcome"))
        .collect()
}

async fn events(service: &TestService, conversation: &str) -> Vec<Event> {
    let answer = service
        .messages
        .clone()
        .list_events_since(realtime().call(ListEventsSinceRequest {
            conversation_id: conversation.to_owned(),
            after_event_seq: 0,
            limit: 0,
        }))
        .await
        .expect("a service reads the event log")
        .into_inner();
    assert!(answer.complete);
    answer
        .events
        .iter()
        .map(|bytes| Event::decode(bytes.as_slice()).expect("an encoded event"))
        .collect()
}

/// The round a message was sent in, from its content "r<round> ...".
fn round_of(message: &Message) -> usize {
    message
        .content
        .split_whitespace()
        .next()
        .and_then(|word| word.strip_prefix('r'))
        .and_then(|round| round.parse().ok())
        .unwrap_or_else(|| panic!("unexpected content {:?}", message.content))
}

#[tokio::test]
async fn sends_across_many_conversations_are_stored_iff_acked_and_numbered_in_order_per_conversation()
 {
    let service = spawn().await;
    let alice = service.user("Alice").await;
    let eve = service.user("Eve").await;
    let mut conversations: Vec<(Actor, Conversation)> = Vec::new();
    for i in 0..CONVERSATIONS {
        let friend = service.user(&format!("Friend{i}")).await;
        let conversation = service.conversation(&alice, &[&friend]).await;
        conversations.push((friend, conversation));
    }

    // Per round, two concurrent calls, each with a message of both members of every conversation; the
    // first also carries one refused item (Eve is in none of them) and one client message id sent twice.
    let mut acked: HashMap<String, Message> = HashMap::new();
    for round in 0..ROUNDS {
        let mut calls = vec![Vec::new(), Vec::new()];
        for (i, (friend, conversation)) in conversations.iter().enumerate() {
            let id = conversation.id.as_str();
            calls[0].push(item(&alice, id, format!("r{round} c{i} from alice"), None));
            calls[1].push(item(friend, id, format!("r{round} c{i} from friend"), None));
        }
        let first_id = conversations[0].1.id.as_str();
        let client = format!("retry-{round}");
        calls[0].insert(3, item(&eve, first_id, format!("r{round} refused"), None));
        calls[0].push(item(
            &alice,
            first_id,
            format!("r{round} once"),
            Some(&client),
        ));
        calls[0].push(item(
            &alice,
            first_id,
            format!("r{round} once"),
            Some(&client),
        ));
        let expected: Vec<Vec<MessageToCreate>> = calls.clone();
        let answers = futures::future::join_all(
            calls
                .into_iter()
                .map(|items| create_messages(&service, items)),
        )
        .await;

        for (items, outcomes) in expected.iter().zip(&answers) {
            assert_eq!(items.len(), outcomes.len());
            for (item, outcome) in items.iter().zip(outcomes) {
                match outcome {
                    Outcome::Message(message) => {
                        assert_eq!(message.content, item.content);
                        assert_eq!(message.conversation_id, item.conversation_id);
                        acked.insert(message.id.clone(), message.clone());
                    }
                    Outcome::Error(error) => {
                        assert_eq!(item.token, eve.token, "only Eve's item fails: {error:?}");
                        assert_eq!(Code::from(error.code), Code::NotFound);
                    }
                }
            }
        }
        // The client message id sent twice in one call is one message.
        let first = &answers[0];
        let (Outcome::Message(once), Outcome::Message(again)) =
            (&first[first.len() - 2], &first[first.len() - 1])
        else {
            panic!("both sends of one client message id answered with the message")
        };
        assert_eq!(once.id, again.id);
    }

    let mut stored_total = 0;
    for (friend, conversation) in &conversations {
        let stored = service.history(friend, conversation).await;
        stored_total += stored.len();
        assert_eq!(
            stored.iter().map(|m| m.seq).collect::<Vec<_>>(),
            (1..=stored.len() as i64).collect::<Vec<_>>(),
            "contiguous message numbers"
        );
        let rounds: Vec<usize> = stored.iter().map(round_of).collect();
        assert!(
            rounds.is_sorted(),
            "a round's messages follow the previous round's: {rounds:?}"
        );
        for message in &stored {
            assert_eq!(
                acked.get(&message.id),
                Some(message),
                "stored only if acked, as acked"
            );
        }

        let log = events(&service, &conversation.id).await;
        assert_eq!(
            log.iter().map(|e| e.event_seq).collect::<Vec<_>>(),
            (1..=log.len() as i64).collect::<Vec<_>>(),
            "contiguous event numbers"
        );
        let created: Vec<i64> = log
            .iter()
            .filter_map(|event| match &event.payload {
                Some(Payload::MessageCreated(created)) => {
                    created.message.as_ref().map(|message| message.seq)
                }
                _ => None,
            })
            .collect();
        assert_eq!(
            created,
            stored.iter().map(|m| m.seq).collect::<Vec<_>>(),
            "one event per message, numbered in the messages' order"
        );
    }
    assert_eq!(stored_total, acked.len(), "every acked message is stored");
    assert_eq!(acked.len(), ROUNDS * (2 * CONVERSATIONS + 1));
}
