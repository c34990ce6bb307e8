//! `calculator`: integer arithmetic over calls, with errors in the reply.
//!
//! It shows the application error channel: a request that cannot be computed
//! (division by zero, overflow) is still answered, with
//! `Err(CalcError::...)` inside the reply, and the actor keeps running.
//! Transport-class failures (timeouts, a callee that ended) are something
//! else entirely and never look like this.
//!
//! Wire format (postcard): a request is [`CalcRequest`], the reply is
//! `Result<i64, CalcError>`. The variant order is part of the format.

use serde::{Deserialize, Serialize};
use wactor_guest::{Actor, Call, Context, Outcome};

/// What to compute.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum CalcRequest {
    /// `a + b`.
    Add(i64, i64),
    /// `a / b`, rounded toward zero.
    Divide(i64, i64),
}

/// Why a computation has no result.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum CalcError {
    /// The divisor was zero.
    DivisionByZero,
    /// The result does not fit in an `i64`.
    Overflow,
}

struct Calculator;

impl Actor for Calculator {
    type Args = ();
    type Message = ();
    type Request = CalcRequest;
    type Reply = Result<i64, CalcError>;

    fn init(_ctx: &mut Context, _args: ()) -> Result<Self, String> {
        Ok(Calculator)
    }

    fn handle_call(
        &mut self,
        _ctx: &mut Context,
        _call: Call,
        req: CalcRequest,
    ) -> Outcome<Result<i64, CalcError>> {
        Outcome::Reply(compute(req))
    }
}

fn compute(req: CalcRequest) -> Result<i64, CalcError> {
    match req {
        CalcRequest::Add(a, b) => a.checked_add(b).ok_or(CalcError::Overflow),
        CalcRequest::Divide(_, 0) => Err(CalcError::DivisionByZero),
        // With a non-zero divisor, only i64::MIN / -1 overflows.
        CalcRequest::Divide(a, b) => a.checked_div(b).ok_or(CalcError::Overflow),
    }
}

wactor_guest::export_actor!(Calculator);

#[cfg(test)]
mod tests {
    use wactor_guest::testing::TestActor;
    use wactor_guest::{Error, Outcome};

    use super::*;

    fn calculator() -> TestActor<Calculator> {
        TestActor::start(&()).unwrap_or_else(|e| panic!("init: {e}"))
    }

    #[test]
    fn adds_and_divides_toward_zero() {
        let mut t = calculator();
        assert_eq!(t.call(&CalcRequest::Add(2, 3)).expect_reply(), Ok(5));
        assert_eq!(t.call(&CalcRequest::Divide(7, 2)).expect_reply(), Ok(3));
        assert_eq!(t.call(&CalcRequest::Divide(-7, 2)).expect_reply(), Ok(-3));
    }

    #[test]
    fn failures_are_answered_in_the_reply_and_the_actor_keeps_running() {
        let mut t = calculator();
        assert_eq!(
            t.call(&CalcRequest::Divide(1, 0)).expect_reply(),
            Err(CalcError::DivisionByZero)
        );
        assert_eq!(
            t.call(&CalcRequest::Add(i64::MAX, 1)).expect_reply(),
            Err(CalcError::Overflow)
        );
        assert_eq!(
            t.call(&CalcRequest::Divide(i64::MIN, -1)).expect_reply(),
            Err(CalcError::Overflow)
        );
        assert_eq!(t.stopped(), None);
        assert_eq!(t.call(&CalcRequest::Add(1, 1)).expect_reply(), Ok(2));
    }

    #[test]
    fn its_json_face_is_serdes_default_form() {
        let mut t = calculator();
        assert_eq!(t.call_json(r#"{"Divide":[7,2]}"#).expect_reply(), r#"{"Ok":3}"#);
        assert_eq!(
            t.call_json(r#"{"Divide":[1,0]}"#).expect_reply(),
            r#"{"Err":"DivisionByZero"}"#
        );
        let bad = t.call_json(r#"{"Multiply":[2,3]}"#);
        assert_eq!(bad.outcome, Outcome::Defer);
        match t.response::<Result<i64, CalcError>>(&bad.call) {
            Some(Err(Error::NotAllowed(why))) => {
                assert!(why.starts_with("bad request: "), "{why}");
                assert!(why.contains("Multiply"), "{why}");
            }
            other => panic!("expected a refused request, got {other:?}"),
        }
    }
}
