//! A search query: the words a client typed, as a Postgres `tsquery` that matches messages holding every
//! word, the last one also as a prefix (what someone is still typing: "interv" finds "interview").

use validation::Checked;
use validation::rules::{Raw, required_text};

pub const MAX_QUERY_CHARS: usize = 200;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchQuery {
    /// `None` when the text holds no word at all (only punctuation): nothing can match.
    tsquery: Option<String>,
}

impl SearchQuery {
    pub fn parse(text: &str) -> Checked<Self> {
        required_text(Raw::Text(text), "Query", MAX_QUERY_CHARS)?;
        // Words are runs of letters and digits, in any script; anything else separates them, so no
        // character of the query can be read as tsquery syntax.
        let words: Vec<String> = text
            .split(|c: char| !c.is_alphanumeric())
            .filter(|word| !word.is_empty())
            .map(str::to_lowercase)
            .collect();
        let tsquery = words.split_last().map(|(last, before)| {
            before
                .iter()
                .map(|word| format!("'{word}'"))
                .chain(std::iter::once(format!("'{last}':*")))
                .collect::<Vec<_>>()
                .join(" & ")
        });
        Ok(Self { tsquery })
    }

    pub fn tsquery(&self) -> Option<&str> {
        self.tsquery.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_word_must_match_and_the_last_may_be_a_prefix() {
        let query = SearchQuery::parse("Internship, INTERV").expect("valid");
        assert_eq!(query.tsquery(), Some("'internship' & 'interv':*"));
        let query = SearchQuery::parse("Größe d'été").expect("valid");
        assert_eq!(query.tsquery(), Some("'größe' & 'd' & 'été':*"));
        assert_eq!(
            SearchQuery::parse("'&|!:*()").expect("valid").tsquery(),
            None
        );
    }

    #[test]
    fn a_query_is_one_to_two_hundred_characters() {
        assert_eq!(
            SearchQuery::parse("").expect_err("empty").sentences(),
            ["Query is required"]
        );
        assert_eq!(
            SearchQuery::parse(&"a".repeat(201))
                .expect_err("long")
                .sentences(),
            ["Query must be at most 200 characters long"]
        );
    }
}
