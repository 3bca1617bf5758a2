//! What nodes share besides the database: Redis for counters and for fanning out
//! invalidations (a logout on one node must empty the caches of every node).
//!
//! Without Redis a deployment is one node and everything stays in memory. With Redis,
//! a node trusts its caches only while its subscription is live: when the connection
//! drops it empties them and goes to the database on every request (fail closed),
//! until it has subscribed again.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use redis::AsyncCommands;
use redis::aio::ConnectionManager;

/// A cache entry that another node changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invalidation {
    Session(String),
    User(String),
    ApiToken(String),
    /// Events may have been missed: drop everything.
    All,
}

impl Invalidation {
    fn encode(&self) -> String {
        match self {
            Self::Session(id) => format!("s:{id}"),
            Self::User(id) => format!("u:{id}"),
            Self::ApiToken(id) => format!("t:{id}"),
            Self::All => "*".into(),
        }
    }

    fn decode(text: &str) -> Self {
        match text.split_once(':') {
            Some(("s", id)) => Self::Session(id.into()),
            Some(("u", id)) => Self::User(id.into()),
            Some(("t", id)) => Self::ApiToken(id.into()),
            _ => Self::All,
        }
    }
}

/// How often the subscription proves it is alive.
const HEARTBEAT: Duration = Duration::from_secs(3);

pub type InvalidationHandler = Arc<dyn Fn(Invalidation) + Send + Sync>;

#[derive(Clone)]
pub struct Cluster {
    client: Option<redis::Client>,
    pub redis: Option<ConnectionManager>,
    /// Namespace of our keys and channel in Redis.
    pub prefix: String,
    /// True when local caches may be trusted (see module docs).
    caches_trusted: Arc<AtomicBool>,
}

impl Cluster {
    /// `single_node_caches`: whether caches may be trusted when there is no Redis
    /// (true for SQLite, which one node owns; false for a shared PostgreSQL).
    pub async fn connect(url: Option<&str>, prefix: &str, single_node_caches: bool) -> anyhow::Result<Self> {
        let prefix = prefix.to_owned();
        let Some(url) = url else {
            return Ok(Self {
                client: None,
                redis: None,
                prefix,
                caches_trusted: Arc::new(AtomicBool::new(single_node_caches)),
            });
        };
        let client = redis::Client::open(url)?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(2)))
            .set_number_of_retries(1);
        let manager = client.get_connection_manager_with_config(config).await?;
        Ok(Self {
            client: Some(client),
            redis: Some(manager),
            prefix,
            caches_trusted: Arc::new(AtomicBool::new(false)),
        })
    }

    pub fn caches_trusted(&self) -> bool {
        self.caches_trusted.load(Ordering::Acquire)
    }

    /// Tells the other nodes; the caller has already updated its own caches.
    pub async fn publish(&self, event: &Invalidation) {
        let Some(mut redis) = self.redis.clone() else {
            return;
        };
        for attempt in 0..2 {
            match redis.publish::<_, _, ()>(self.channel(), event.encode()).await {
                Ok(()) => return,
                // The change is already in the database; nodes that lost Redis too
                // have stopped trusting their caches, and cached grants expire
                // within seconds regardless.
                Err(err) if attempt == 1 => {
                    tracing::error!(error = %err, "could not publish a cache invalidation")
                }
                Err(_) => {}
            }
        }
    }

    fn channel(&self) -> String {
        format!("{}:invalidate", self.prefix)
    }

    pub async fn ping(&self) -> Result<(), redis::RedisError> {
        match self.redis.clone() {
            Some(mut redis) => redis::cmd("PING").query_async::<()>(&mut redis).await,
            None => Ok(()),
        }
    }

    /// Follows the invalidation channel until the returned task is aborted.
    pub fn spawn_listener(&self, handler: InvalidationHandler) -> Option<tokio::task::JoinHandle<()>> {
        let client = self.client.clone()?;
        let trusted = self.caches_trusted.clone();
        let channel = self.channel();
        Some(tokio::spawn(async move {
            let mut backoff = Duration::from_millis(100);
            loop {
                match client.get_async_pubsub().await {
                    Ok(mut pubsub) => {
                        if pubsub.subscribe(&channel).await.is_ok() {
                            handler(Invalidation::All);
                            trusted.store(true, Ordering::Release);
                            backoff = Duration::from_millis(100);
                            follow(pubsub, &handler).await;
                        }
                        tracing::warn!("lost the Redis invalidation channel; caches bypassed");
                    }
                    Err(err) => tracing::warn!(error = %err, "cannot reach Redis for invalidations"),
                }
                trusted.store(false, Ordering::Release);
                handler(Invalidation::All);
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }))
    }
}

/// Delivers messages until the subscription fails. A PING every few seconds finds
/// a connection that died silently (a half-open socket would otherwise keep the
/// caches trusted while invalidations are lost).
async fn follow(pubsub: redis::aio::PubSub, handler: &InvalidationHandler) {
    let (mut sink, mut messages) = pubsub.split();
    let mut heartbeat = tokio::time::interval(HEARTBEAT);
    heartbeat.tick().await;
    loop {
        tokio::select! {
            message = messages.next() => match message {
                Some(msg) => {
                    if let Ok(text) = msg.get_payload::<String>() {
                        handler(Invalidation::decode(&text));
                    }
                }
                None => return,
            },
            _ = heartbeat.tick() => {
                let pong = tokio::time::timeout(HEARTBEAT, sink.ping::<String>()).await;
                if !matches!(pong, Ok(Ok(_))) {
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Invalidation;

    #[test]
    fn invalidations_round_trip() {
        for event in [Invalidation::Session("a:b".into()), Invalidation::User("u1".into()), Invalidation::All]
        {
            assert_eq!(Invalidation::decode(&event.encode()), event);
        }
    }
}
