//! The in-memory pipe, as a protocol author would use it.

use peerwire::protocol::pipe::{pipe, run_handler};
use peerwire::protocol::SessionEnd;
use peerwire::protocol::{Protocol, ReadError, SendError};
use peerwire::wire::{Capability, DisconnectReason};

/// A protocol that sums the numbers of each list it receives and answers with the total.
fn summer() -> Protocol {
    Protocol::new(Capability::new("sum", 1), 2, |_peer, mut rw| async move {
        loop {
            let msg = rw.read_msg().await?;
            if msg.code == 1 {
                return Ok(());
            }
            let numbers: Vec<u64> = msg.decode_list()?;
            rw.send(0, &numbers.iter().sum::<u64>()).await?;
        }
    })
}

#[tokio::test]
async fn handler_round_trips_and_quits_over_the_pipe() {
    let (handler, mut remote) = run_handler(&summer());
    remote.rw.send_items(0, &[1u64, 2, 3]).await.unwrap();
    remote.rw.send_items(0, &[10u64, 20]).await.unwrap();
    assert_eq!(
        remote.rw.read_msg().await.unwrap().decode::<u64>().unwrap(),
        6
    );
    assert_eq!(
        remote.rw.read_msg().await.unwrap().decode::<u64>().unwrap(),
        30
    );
    remote.rw.send(1, &"stop").await.unwrap();
    assert!(handler.await.unwrap().is_ok());
    assert_eq!(
        remote.rw.read_msg().await,
        Err(ReadError::Disconnected(SessionEnd::Local(
            DisconnectReason::Quitting
        )))
    );
    assert_eq!(remote.rw.send(0, &1u64).await, Err(SendError::Disconnected));
}

#[tokio::test]
async fn malformed_input_fails_the_handler() {
    let (handler, remote) = run_handler(&summer());
    remote.rw.send(0, &"not a list").await.unwrap();
    let outcome = tokio::time::timeout(std::time::Duration::from_secs(5), handler).await;
    assert!(outcome.expect("handler ends").unwrap().is_err());
    assert!(remote.peer.is_disconnected());
}

#[tokio::test]
async fn pipe_ends_see_each_other_and_bounded_queues() {
    let (a, b) = pipe(Capability::new("x", 1), 1, 2);
    assert_ne!(a.peer.id(), b.peer.id());
    assert_eq!(
        a.rw.try_send(1, &0u8),
        Err(SendError::InvalidCode { code: 1, length: 1 })
    );
    // Two in b's inbound queue, one held by the task moving them, two in a's queue: five
    // messages fit, the sixth does not.
    let mut sent = 0u32;
    while a.rw.try_send(0, &sent).is_ok() {
        sent += 1;
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        assert!(sent < 100, "queue never filled");
    }
    assert_eq!(sent, 5);
    assert_eq!(a.rw.try_send(0, &0u8), Err(SendError::Full));
    let mut b = b;
    for i in 0..sent {
        assert_eq!(b.rw.read_msg().await.unwrap().decode::<u32>().unwrap(), i);
    }
}
