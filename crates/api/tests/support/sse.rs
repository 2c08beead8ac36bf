//! A small Server-Sent Events reader for the streaming routes.

use std::time::Duration;

use futures_util::StreamExt;

/// One parsed event.
#[derive(Debug, Clone, PartialEq)]
pub struct Sse {
    pub event: Option<String>,
    pub id: Option<u64>,
    pub data: serde_json::Value,
}

/// Sends `request` and reads its events until `until` says stop (or 20 s pass).
pub async fn read(request: reqwest::RequestBuilder, until: impl Fn(&[Sse]) -> bool) -> Vec<Sse> {
    let response = request.send().await.unwrap();
    let url = response.url().clone();
    assert_eq!(response.status(), 200, "{url}");
    let mut body = response.bytes_stream();
    let mut buffered = String::new();
    let mut events = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !until(&events) {
        let chunk = tokio::time::timeout_at(deadline, body.next())
            .await
            .expect("events in time")
            .expect("the stream stays open")
            .unwrap();
        buffered.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buffered.find("\n\n") {
            let frame: String = buffered.drain(..end + 2).collect();
            let mut event = Sse {
                event: None,
                id: None,
                data: serde_json::Value::Null,
            };
            let mut comment = true;
            for line in frame.lines() {
                if let Some(v) = line.strip_prefix("event:") {
                    event.event = Some(v.trim().to_owned());
                    comment = false;
                } else if let Some(v) = line.strip_prefix("id:") {
                    event.id = v.trim().parse().ok();
                } else if let Some(v) = line.strip_prefix("data:") {
                    event.data = serde_json::from_str(v.trim()).unwrap();
                    comment = false;
                }
            }
            if !comment {
                events.push(event);
            }
        }
    }
    events
}
