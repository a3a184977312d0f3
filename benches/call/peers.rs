//! The two other breakers measured beside protego (recloser 1.4, failsafe 1.3), open on the
//! system clock, for the rejection rows.

use std::task::Poll;
use std::time::Duration;

use super::common::{err, new_cx, ok, poll_once};

pub(crate) type Recloser = recloser::AsyncRecloser;
pub(crate) type Failsafe = failsafe::StateMachine<
    failsafe::failure_policy::ConsecutiveFailures<failsafe::backoff::Constant>,
    (),
>;

/// recloser 1.4, open for an hour (opened by three failures).
pub(crate) fn open_recloser() -> Recloser {
    let mut cx = new_cx();
    let recloser = recloser::AsyncRecloser::from(
        recloser::Recloser::custom()
            .closed_len(1)
            .open_wait(Duration::from_secs(3600))
            .build(),
    );
    for _ in 0..3 {
        let _ = poll_once(recloser.call(err()), &mut cx);
    }
    assert!(matches!(
        poll_once(recloser.call(ok()), &mut cx),
        Poll::Ready(Err(recloser::Error::Rejected))
    ));
    recloser
}

/// failsafe 1.3, open for an hour (opened by one failure).
pub(crate) fn open_failsafe() -> Failsafe {
    let mut cx = new_cx();
    let failsafe = failsafe::Config::new()
        .failure_policy(failsafe::failure_policy::consecutive_failures(
            1,
            failsafe::backoff::constant(Duration::from_secs(3600)),
        ))
        .build();
    let _ = poll_once(
        failsafe::futures::CircuitBreaker::call(&failsafe, err()),
        &mut cx,
    );
    assert!(matches!(
        poll_once(
            failsafe::futures::CircuitBreaker::call(&failsafe, ok()),
            &mut cx
        ),
        Poll::Ready(Err(failsafe::Error::Rejected))
    ));
    failsafe
}
