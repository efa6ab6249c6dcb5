//! A devp2p peer driven by hand: RLPx handshake and Hello advertising foo/1, then only what
//! the test does. It reads nothing after the node's Hello unless asked, like a peer that
//! never reads.

use peerwire::crypto::{Enode, NodeId, NodeKey};
use peerwire::rlp;
use peerwire::rlpx::{RlpxConfig, RlpxStream};
use peerwire::wire::{code, Capability, Hello, PayloadCodec, BASE_PROTOCOL_LENGTH, P2P_VERSION};
use tokio::net::{TcpSocket, TcpStream};

/// Its receive buffer, small so that a peer that does not read fills up soon.
const RECV_BUFFER: u32 = 16 * 1024;

pub(crate) struct HandPeer {
    runtime: tokio::runtime::Runtime,
    stream: RlpxStream<TcpStream>,
    codec: PayloadCodec,
    pub id: NodeId,
}

impl HandPeer {
    /// Dials `enode`, handshakes, sends a Hello with `client_id` and foo/1, and reads the
    /// node's Hello.
    pub(crate) fn connect(enode: &str, client_id: &str) -> Self {
        let enode: Enode = enode.parse().expect("an enode URL");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let key = NodeKey::generate(&mut rand::rngs::OsRng);
        let (stream, theirs) = runtime.block_on(async {
            let socket = TcpSocket::new_v4().unwrap();
            socket.set_recv_buffer_size(RECV_BUFFER).unwrap();
            let io = socket.connect(enode.tcp_addr()).await.expect("connects");
            let mut stream = RlpxStream::connect(io, &key, enode.id, &RlpxConfig::default())
                .await
                .expect("handshake");
            let hello = Hello {
                protocol_version: P2P_VERSION,
                client_id: client_id.into(),
                capabilities: vec![Capability::new("foo", 1)],
                listen_port: 0,
                id: key.id(),
            };
            stream.send(code::HELLO, &hello.encode()).await.unwrap();
            let frame = stream.recv().await.unwrap().expect("the node's Hello");
            assert_eq!(frame.code, code::HELLO);
            let theirs = Hello::decode(&frame.payload).unwrap();
            (stream, theirs)
        });
        Self {
            runtime,
            stream,
            codec: PayloadCodec::negotiate(P2P_VERSION, theirs.protocol_version),
            id: key.id(),
        }
    }

    /// Sends `text` as a foo/1 message, `["text"]`.
    pub(crate) fn say(&mut self, text: &str) {
        let payload = rlp::encode_list::<&str, _>(&[text]).freeze();
        let payload = self.codec.encode(payload).unwrap();
        // foo/1 is the only capability: its code 0 comes right after the base protocol's.
        let code = BASE_PROTOCOL_LENGTH;
        self.runtime
            .block_on(self.stream.send(code, &payload))
            .unwrap();
    }
}
