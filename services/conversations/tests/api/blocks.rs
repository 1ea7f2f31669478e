//! Blocks as the conversations service keeps them: the presence audience leaves a blocked pair out.

use junqo_proto::conversations::v1::{BlockRequest, ListContactsRequest};

use crate::helpers::spawn;

#[tokio::test]
async fn a_blocked_pair_is_out_of_each_others_presence_audience_until_unblocked() {
    let service = spawn().await;
    let alice = service.user("Alice").await;
    let bob = service.user("Bob").await;
    let carol = service.user("Carol").await;
    service.conversation(&alice, &[&bob, &carol]).await;

    let contacts = |who: &crate::helpers::Actor| {
        let mut client = service.conversations.clone();
        let request = who.call(ListContactsRequest {});
        async move {
            let mut ids = client
                .list_contacts(request)
                .await
                .expect("contacts")
                .into_inner()
                .user_ids;
            ids.sort();
            ids
        }
    };
    let sorted = |mut ids: Vec<String>| {
        ids.sort();
        ids
    };
    assert_eq!(
        contacts(&alice).await,
        sorted(vec![bob.user_id.clone(), carol.user_id.clone()])
    );

    let block = || {
        bob.call(BlockRequest {
            user_id: alice.user_id.clone(),
        })
    };
    let mut conversations = service.conversations.clone();
    conversations.block_user(block()).await.expect("blocked");
    assert_eq!(contacts(&alice).await, vec![carol.user_id.clone()]);
    assert_eq!(contacts(&bob).await, vec![carol.user_id.clone()]);

    conversations
        .unblock_user(block())
        .await
        .expect("unblocked");
    assert_eq!(
        contacts(&bob).await,
        sorted(vec![alice.user_id.clone(), carol.user_id.clone()])
    );
}
