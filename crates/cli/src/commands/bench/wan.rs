//! A WAN-shaped TCP proxy on loopback: what a hosted git service looks like from a dev host
//! (these kernels have no `netem`). Each direction delays every chunk by half the round trip
//! and is paced to the link's rate, so a clone through it pays the handshakes' round trips
//! and the transfer time a real remote would cost.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// The shape of the link.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Shape {
    /// The round-trip time the proxy adds.
    pub(crate) rtt: Duration,
    /// The rate each direction is paced to, in bits per second.
    pub(crate) bits_per_second: u64,
}

/// A running proxy; dropping it stops accepting (open connections end with their peers).
pub(crate) struct WanProxy {
    address: SocketAddr,
    accept: JoinHandle<()>,
}

impl Drop for WanProxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

impl WanProxy {
    /// Forwards connections on a free loopback port to `upstream`, shaped like `shape`.
    pub(crate) async fn start(upstream: SocketAddr, shape: Shape) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let accept = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    let _ = client.set_nodelay(true);
                    let _ = server.set_nodelay(true);
                    let (client_read, client_write) = client.into_split();
                    let (server_read, server_write) = server.into_split();
                    tokio::join!(
                        shaped(client_read, server_write, shape),
                        shaped(server_read, client_write, shape)
                    );
                });
            }
        });
        Ok(Self { address, accept })
    }

    /// Where it listens.
    pub(crate) fn port(&self) -> u16 {
        self.address.port()
    }
}

/// Copies `from` to `to` like a link: a chunk goes on the wire when it was read and the link
/// is free, takes its length at the link's rate, and arrives half a round trip later.
async fn shaped(mut from: impl AsyncRead + Unpin, mut to: impl AsyncWrite + Unpin, shape: Shape) {
    let (sender, mut receiver) = mpsc::unbounded_channel::<(Instant, Vec<u8>)>();
    let one_way = shape.rtt / 2;
    let read = async move {
        let mut buffer = vec![0u8; 16 * 1024];
        while let Ok(read @ 1..) = from.read(&mut buffer).await {
            if sender
                .send((Instant::now(), buffer[..read].to_vec()))
                .is_err()
            {
                break;
            }
        }
    };
    let write = async move {
        let mut link_free = Instant::now();
        while let Some((read_at, chunk)) = receiver.recv().await {
            let on_the_wire = link_free.max(read_at);
            link_free = on_the_wire + transfer_time(chunk.len(), shape.bits_per_second);
            tokio::time::sleep_until(link_free + one_way).await;
            if to.write_all(&chunk).await.is_err() {
                return;
            }
        }
        let _ = to.shutdown().await;
    };
    tokio::join!(read, write);
}

/// How long `bytes` take on a link of `bits_per_second`.
fn transfer_time(bytes: usize, bits_per_second: u64) -> Duration {
    Duration::from_secs_f64(bytes as f64 * 8.0 / bits_per_second.max(1) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_megabyte_takes_80_ms_at_100_mbit() {
        let took = transfer_time(1_000_000, 100_000_000);
        assert_eq!(took, Duration::from_millis(80));
    }

    #[tokio::test]
    async fn the_proxy_adds_its_round_trip_and_paces_to_its_rate() {
        let upstream = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let upstream_address = upstream.local_addr().unwrap();
        // An echo server.
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = upstream.accept().await {
                tokio::spawn(async move {
                    let (mut read, mut write) = socket.split();
                    let _ = tokio::io::copy(&mut read, &mut write).await;
                });
            }
        });
        let shape = Shape {
            rtt: Duration::from_millis(40),
            bits_per_second: 100_000_000,
        };
        let proxy = WanProxy::start(upstream_address, shape).await.unwrap();
        let mut client = TcpStream::connect(("127.0.0.1", proxy.port()))
            .await
            .unwrap();
        // A byte there and back: half a round trip each way.
        let started = std::time::Instant::now();
        client.write_all(b"x").await.unwrap();
        let mut byte = [0u8; 1];
        client.read_exact(&mut byte).await.unwrap();
        let round_trip = started.elapsed();
        assert!(
            round_trip >= Duration::from_millis(40) && round_trip < Duration::from_millis(400),
            "{round_trip:?}"
        );
        // 2.5 MB there and back: at least 200 ms of pacing each way on top.
        let payload = vec![7u8; 2_500_000];
        let started = std::time::Instant::now();
        let (mut read, mut write) = client.into_split();
        let sending = tokio::spawn(async move { write.write_all(&payload).await });
        let mut echoed = vec![0u8; 2_500_000];
        read.read_exact(&mut echoed).await.unwrap();
        sending.await.unwrap().unwrap();
        let took = started.elapsed();
        assert!(took >= Duration::from_millis(200), "{took:?}");
        assert!(echoed.iter().all(|b| *b == 7));
    }
}
