//! `db`: a small in-memory table behind calls, with both kinds of failure.
//!
//! Rows are `key → value` strings, kept in key order. Requests
//! ([`DbRequest`]) are typed operations (`Get`, `Put`, `Delete`) or a
//! `Query` in a tiny text syntax:
//!
//! ```text
//! get KEY           the row KEY
//! put KEY VALUE     writes the row; VALUE is the rest of the line
//! delete KEY        removes the row KEY
//! scan [PREFIX]     every row (whose key starts with PREFIX), in key order
//! ```
//!
//! Keywords are case-insensitive; keys are one word. Every request answers
//! with `Result<Vec<Row>, DbError>`: the rows read, written or removed.
//!
//! # Two ways to fail, and when to use which
//!
//! A caller can learn that its request did not work in two different ways,
//! and this actor uses both:
//!
//! * **An application error, inside the reply** (`Ok(Err(DbError::...))` as
//!   the caller sees it). The request reached the table and was answered:
//!   the query is malformed, or the key is not there. This is part of the
//!   protocol: the caller's code handles it like any other answer, and
//!   asking again unchanged gives the same answer. The actor keeps running,
//!   unharmed.
//! * **A transport-class error, with [`Context::reply_error`]** (the caller
//!   sees `Error::Remote("backend unavailable")`, next to `Timeout`). No
//!   answer about the data can be given at all right now: the storage behind
//!   the actor is down. It says nothing about the request itself, so the
//!   caller treats it like a timeout: retry later, try a replica, give up.
//!   `handle_call` answers through `reply_error` and returns
//!   [`Outcome::Defer`], since the answer has already been given.
//!
//! Rule of thumb: if a correct caller could get this answer for a correct
//! request while everything works, it belongs in the reply type. If it means
//! "something between you and the answer is broken", use `reply_error`.
//!
//! `SetBackend(false)` simulates the outage and `SetBackend(true)` ends it;
//! the switch itself is always answered (`Ok(vec![])`).
//!
//! Wire format (postcard): a request is [`DbRequest`], the reply is
//! `Result<Vec<Row>, DbError>`. The variant and field order is part of the
//! format.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use wactor_guest::{Actor, Call, Context, Outcome};

/// What the caller sees when the backend is down.
pub const BACKEND_UNAVAILABLE: &str = "backend unavailable";

/// An operation on the table.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum DbRequest {
    /// Read a row.
    Get(String),
    /// Write a row (key, value).
    Put(String, String),
    /// Remove a row.
    Delete(String),
    /// Run a query in the text syntax (see the crate docs).
    Query(String),
    /// Bring the backend up (`true`) or take it down (`false`).
    SetBackend(bool),
}

/// One row of the table.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// The row's key: one word.
    pub key: String,
    /// Its value.
    pub value: String,
}

/// Why a request has no rows to show: an application error, part of the
/// reply.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum DbError {
    /// No row has this key.
    NotFound(String),
    /// The query does not parse.
    BadQuery {
        /// The query as given.
        query: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// A parsed query.
#[derive(Debug, PartialEq, Eq)]
enum Query<'q> {
    Get(&'q str),
    Put(&'q str, &'q str),
    Delete(&'q str),
    Scan(&'q str),
}

/// Parses the text syntax; the error is the reason, for [`DbError::BadQuery`].
fn parse(query: &str) -> Result<Query<'_>, String> {
    let query = query.trim();
    let (verb, rest) = query.split_once(char::is_whitespace).unwrap_or((query, ""));
    let rest = rest.trim_start();
    // One word, or a word and the rest of the line.
    let one_key = |what: &str| -> Result<&str, String> {
        match rest.split_whitespace().collect::<Vec<_>>()[..] {
            [key] => Ok(key),
            [] => Err(format!("`{what}` needs a key")),
            _ => Err(format!("`{what}` takes one key, got `{rest}`")),
        }
    };
    match verb.to_ascii_lowercase().as_str() {
        "get" => one_key("get").map(Query::Get),
        "delete" => one_key("delete").map(Query::Delete),
        "put" => match rest.split_once(char::is_whitespace) {
            Some((key, value)) => Ok(Query::Put(key, value.trim_start())),
            None if rest.is_empty() => Err("`put` needs a key and a value".into()),
            None => Err(format!("`put {rest}` needs a value")),
        },
        "scan" => match rest.split_whitespace().collect::<Vec<_>>()[..] {
            [] => Ok(Query::Scan("")),
            [prefix] => Ok(Query::Scan(prefix)),
            _ => Err(format!("`scan` takes at most one prefix, got `{rest}`")),
        },
        "" => Err("empty query".into()),
        other => Err(format!(
            "unknown command `{other}` (expected get, put, delete or scan)"
        )),
    }
}

/// The state. It is serde, so a hot upgrade keeps the table.
#[derive(Serialize, Deserialize)]
pub struct Db {
    rows: BTreeMap<String, String>,
    backend_up: bool,
}

impl Db {
    fn get(&self, key: &str) -> Result<Vec<Row>, DbError> {
        match self.rows.get(key) {
            Some(value) => Ok(vec![row(key, value)]),
            None => Err(DbError::NotFound(key.to_owned())),
        }
    }

    fn put(&mut self, key: &str, value: &str) -> Result<Vec<Row>, DbError> {
        self.rows.insert(key.to_owned(), value.to_owned());
        Ok(vec![row(key, value)])
    }

    fn delete(&mut self, key: &str) -> Result<Vec<Row>, DbError> {
        match self.rows.remove(key) {
            Some(value) => Ok(vec![row(key, &value)]),
            None => Err(DbError::NotFound(key.to_owned())),
        }
    }

    fn scan(&self, prefix: &str) -> Result<Vec<Row>, DbError> {
        Ok(self
            .rows
            .range(prefix.to_owned()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(k, v)| row(k, v))
            .collect())
    }

    fn query(&mut self, text: &str) -> Result<Vec<Row>, DbError> {
        match parse(text) {
            Ok(Query::Get(key)) => self.get(key),
            Ok(Query::Put(key, value)) => self.put(key, value),
            Ok(Query::Delete(key)) => self.delete(key),
            Ok(Query::Scan(prefix)) => self.scan(prefix),
            Err(reason) => Err(DbError::BadQuery {
                query: text.to_owned(),
                reason,
            }),
        }
    }
}

fn row(key: &str, value: &str) -> Row {
    Row {
        key: key.to_owned(),
        value: value.to_owned(),
    }
}

impl Actor for Db {
    type Args = ();
    type Message = ();
    type Request = DbRequest;
    type Reply = Result<Vec<Row>, DbError>;

    fn init(_ctx: &mut Context, _args: ()) -> Result<Self, String> {
        Ok(Db {
            rows: BTreeMap::new(),
            backend_up: true,
        })
    }

    fn handle_call(&mut self, ctx: &mut Context, call: Call, req: DbRequest) -> Outcome<Self::Reply> {
        let rows = match req {
            DbRequest::SetBackend(up) => {
                self.backend_up = up;
                ctx.info(format!("backend {}", if up { "up" } else { "down" }));
                Ok(Vec::new())
            }
            _ if !self.backend_up => {
                // No answer about the data can be given: the
                // transport-class channel, not a `DbError`.
                if let Err(e) = ctx.reply_error(&call, BACKEND_UNAVAILABLE) {
                    ctx.debug(format!("could not tell {} the backend is down: {e}", call.from));
                }
                return Outcome::Defer;
            }
            DbRequest::Get(key) => self.get(&key),
            DbRequest::Put(key, value) => self.put(&key, &value),
            DbRequest::Delete(key) => self.delete(&key),
            DbRequest::Query(text) => self.query(&text),
        };
        Outcome::Reply(rows)
    }
}

wactor_guest::export_actor!(Db);

#[cfg(test)]
mod tests {
    use wactor_guest::testing::TestActor;
    use wactor_guest::{Error, Outcome};

    use super::*;

    fn db() -> TestActor<Db> {
        TestActor::start(&()).unwrap_or_else(|e| panic!("init: {e}"))
    }

    fn query(t: &mut TestActor<Db>, q: &str) -> Result<Vec<Row>, DbError> {
        t.call(&DbRequest::Query(q.into())).expect_reply()
    }

    #[test]
    fn typed_operations_and_queries_read_and_write_the_same_table() {
        let mut t = db();
        assert_eq!(
            t.call(&DbRequest::Put("b".into(), "2".into())).expect_reply(),
            Ok(vec![row("b", "2")])
        );
        assert_eq!(query(&mut t, "PUT a  one two"), Ok(vec![row("a", "one two")]));
        assert_eq!(query(&mut t, "put ab 3"), Ok(vec![row("ab", "3")]));
        assert_eq!(
            t.call(&DbRequest::Get("a".into())).expect_reply(),
            Ok(vec![row("a", "one two")])
        );
        assert_eq!(
            query(&mut t, "scan a"),
            Ok(vec![row("a", "one two"), row("ab", "3")])
        );
        assert_eq!(query(&mut t, "scan").map(|rows| rows.len()), Ok(3));
        assert_eq!(query(&mut t, "delete b"), Ok(vec![row("b", "2")]));
        assert_eq!(
            t.call(&DbRequest::Delete("b".into())).expect_reply(),
            Err(DbError::NotFound("b".into()))
        );
    }

    #[test]
    fn a_bad_query_or_a_missing_key_is_an_error_in_the_reply() {
        let mut t = db();
        assert_eq!(
            query(&mut t, "get nothing"),
            Err(DbError::NotFound("nothing".into()))
        );
        assert_eq!(
            query(&mut t, "drop table"),
            Err(DbError::BadQuery {
                query: "drop table".into(),
                reason: "unknown command `drop` (expected get, put, delete or scan)".into(),
            })
        );
        assert!(matches!(query(&mut t, "get a b"), Err(DbError::BadQuery { .. })));
        assert!(matches!(query(&mut t, "put a"), Err(DbError::BadQuery { .. })));
        assert!(matches!(query(&mut t, "   "), Err(DbError::BadQuery { .. })));
        assert_eq!(t.stopped(), None);
    }

    #[test]
    fn the_parser_reads_the_text_syntax() {
        assert_eq!(parse("get k"), Ok(Query::Get("k")));
        assert_eq!(parse(" Delete  k "), Ok(Query::Delete("k")));
        assert_eq!(parse("put k a  b"), Ok(Query::Put("k", "a  b")));
        assert_eq!(parse("scan"), Ok(Query::Scan("")));
        assert_eq!(parse("scan p"), Ok(Query::Scan("p")));
        assert!(parse("scan p q").is_err());
        assert!(parse("get").is_err());
    }

    #[test]
    fn with_the_backend_down_the_caller_gets_a_transport_class_error() {
        let mut t = db();
        t.call(&DbRequest::Put("k".into(), "v".into()));
        assert_eq!(t.call(&DbRequest::SetBackend(false)).expect_reply(), Ok(vec![]));
        let called = t.call(&DbRequest::Get("k".into()));
        // Answered through reply_error, so handle_call deferred.
        assert_eq!(called.outcome, Outcome::Defer);
        assert_eq!(
            t.response::<Result<Vec<Row>, DbError>>(&called.call),
            Some(Err(Error::Remote(BACKEND_UNAVAILABLE.into())))
        );
        assert_eq!(t.call(&DbRequest::SetBackend(true)).expect_reply(), Ok(vec![]));
        assert_eq!(
            t.call(&DbRequest::Get("k".into())).expect_reply(),
            Ok(vec![row("k", "v")])
        );
    }

    #[test]
    fn the_table_and_the_backend_switch_survive_an_upgrade() {
        let mut t = db();
        t.call(&DbRequest::Put("k".into(), "v".into()));
        t.call(&DbRequest::SetBackend(false));
        t.upgrade().expect("upgrade");
        let called = t.call(&DbRequest::Get("k".into()));
        assert_eq!(
            t.response::<Result<Vec<Row>, DbError>>(&called.call),
            Some(Err(Error::Remote(BACKEND_UNAVAILABLE.into())))
        );
        t.call(&DbRequest::SetBackend(true));
        assert_eq!(
            t.call(&DbRequest::Get("k".into())).expect_reply(),
            Ok(vec![row("k", "v")])
        );
    }
}
