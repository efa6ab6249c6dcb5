//! Per-message recording: handles made once per session and capability, so that recording a
//! message does not allocate. The names are in [`crate::metrics`].

use std::sync::Arc;

use metrics::{counter, gauge, Counter, Gauge};

use crate::metrics::*;
use crate::wire::Capability;

/// Called for every message of a session when message events are on: the capability, the
/// code relative to it, the payload bytes on the wire, and which way it went.
#[derive(Clone)]
pub(crate) struct MsgHook(pub(crate) Arc<MsgFn>);

/// See [`MsgHook`].
pub(crate) type MsgFn = dyn Fn(&Capability, u64, usize, MsgDirection) + Send + Sync;

impl std::fmt::Debug for MsgHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MsgHook")
    }
}

/// One message family's counters, one per code label.
#[derive(Debug)]
struct PerCode {
    messages: Box<[Counter]>,
    bytes: Box<[Counter]>,
}

impl PerCode {
    fn new(messages: &'static str, bytes: &'static str, cap: &str, length: u64) -> Self {
        let labels = length.min(MAX_CODE_LABELS);
        let code = |c: u64| {
            if c < MAX_CODE_LABELS {
                c.to_string()
            } else {
                "other".to_string()
            }
        };
        // One more for `other` when the protocol has more codes than labels.
        let codes = (0..labels).chain((length > MAX_CODE_LABELS).then_some(MAX_CODE_LABELS));
        let (messages, bytes): (Vec<_>, Vec<_>) = codes
            .map(|c| {
                let labels = [("cap", cap.to_string()), ("code", code(c))];
                (counter!(messages, &labels), counter!(bytes, &labels))
            })
            .unzip();
        Self {
            messages: messages.into_boxed_slice(),
            bytes: bytes.into_boxed_slice(),
        }
    }

    fn record(&self, code: u64, size: usize) {
        let i = code.min(MAX_CODE_LABELS) as usize;
        if let (Some(m), Some(b)) = (self.messages.get(i), self.bytes.get(i)) {
            m.increment(1);
            b.increment(size as u64);
        }
    }
}

/// The handles of one capability on one session, made when the session starts so that
/// recording a message allocates nothing.
pub(crate) struct CapMetrics {
    cap: Capability,
    offset: u64,
    ingress: PerCode,
    egress: PerCode,
    /// Received messages not yet read by the handler.
    pub(crate) inbound_queue: Gauge,
    /// Messages queued for the writer.
    pub(crate) outbound_queue: Gauge,
    hook: Option<MsgHook>,
}

impl std::fmt::Debug for CapMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CapMetrics")
            .field("cap", &self.cap)
            .field("offset", &self.offset)
            .field("msg_events", &self.hook.is_some())
            .finish_non_exhaustive()
    }
}

impl CapMetrics {
    /// The handles for `cap` at wire codes `offset..offset + length`, and `hook` to call for
    /// every message, if message events are on.
    pub(crate) fn new(cap: &Capability, offset: u64, length: u64, hook: Option<MsgHook>) -> Self {
        let name = cap.to_string();
        Self {
            cap: cap.clone(),
            offset,
            ingress: PerCode::new(INGRESS_MESSAGES, INGRESS_BYTES, &name, length),
            egress: PerCode::new(EGRESS_MESSAGES, EGRESS_BYTES, &name, length),
            inbound_queue: gauge!(INBOUND_QUEUE, "cap" => name.clone()),
            outbound_queue: gauge!(OUTBOUND_QUEUE, "cap" => name),
            hook,
        }
    }

    /// A message with wire code `code` and `size` payload bytes on the wire went `direction`.
    pub(crate) fn record(&self, direction: MsgDirection, code: u64, size: usize) {
        let code = code.saturating_sub(self.offset);
        match direction {
            MsgDirection::Ingress => self.ingress.record(code, size),
            MsgDirection::Egress => self.egress.record(code, size),
        }
        if let Some(hook) = &self.hook {
            (hook.0)(&self.cap, code, size, direction);
        }
    }
}
