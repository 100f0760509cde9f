//! A real DNS server for the tests: UDP on a loopback port, answering TXT
//! queries from a zone the test writes (`publish`). The server under test
//! is pointed at it (`SCIM_DNS_RESOLVERS`), so domain verification goes
//! through its real resolver and the network, nothing stubbed.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use hickory_resolver::proto::op::{Message, MessageType, ResponseCode};
use hickory_resolver::proto::rr::rdata::TXT;
use hickory_resolver::proto::rr::{RData, Record, RecordType};
use tokio::net::UdpSocket;

/// The zone: lower-case names (no trailing dot) → TXT values. A name that
/// is present with no values answers NOERROR with no records; an absent
/// one NXDOMAIN.
#[derive(Clone, Default)]
pub struct DnsZone {
    records: Arc<Mutex<HashMap<String, Vec<String>>>>,
    pub addr: Option<SocketAddr>,
}

impl DnsZone {
    /// Binds a UDP socket on 127.0.0.1 and serves the zone until the
    /// runtime ends.
    pub async fn start() -> Self {
        let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind DNS");
        let zone = Self {
            addr: Some(socket.local_addr().expect("DNS address")),
            ..Self::default()
        };
        let records = zone.records.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            loop {
                let Ok((n, peer)) = socket.recv_from(&mut buf).await else {
                    return;
                };
                let Some(reply) = buf.get(..n).and_then(|q| answer(&records, q)) else {
                    continue;
                };
                let _ = socket.send_to(&reply, peer).await;
            }
        });
        zone
    }

    /// Adds a TXT value at `name`.
    pub fn publish(&self, name: &str, value: &str) {
        self.records
            .lock()
            .unwrap()
            .entry(name.trim_end_matches('.').to_lowercase())
            .or_default()
            .push(value.to_owned());
    }

    /// Makes `name` exist with no TXT record.
    pub fn exists_without_txt(&self, name: &str) {
        self.records
            .lock()
            .unwrap()
            .entry(name.trim_end_matches('.').to_lowercase())
            .or_default();
    }
}

fn answer(records: &Mutex<HashMap<String, Vec<String>>>, query: &[u8]) -> Option<Vec<u8>> {
    let q = Message::from_vec(query).ok()?;
    let question = q.queries.first()?.clone();
    let mut reply = Message::response(q.metadata.id, q.metadata.op_code);
    reply.metadata.message_type = MessageType::Response;
    reply.metadata.authoritative = true;
    reply.metadata.recursion_desired = q.metadata.recursion_desired;
    reply.metadata.recursion_available = true;
    reply.add_query(question.clone());
    let name = question
        .name()
        .to_ascii()
        .trim_end_matches('.')
        .to_lowercase();
    match records.lock().ok()?.get(&name) {
        None => reply.metadata.response_code = ResponseCode::NXDomain,
        Some(values) => {
            if question.query_type() == RecordType::TXT {
                for v in values {
                    reply.add_answer(Record::from_rdata(
                        question.name().clone(),
                        0,
                        RData::TXT(TXT::new(vec![v.clone()])),
                    ));
                }
            }
        }
    }
    reply.to_vec().ok()
}
