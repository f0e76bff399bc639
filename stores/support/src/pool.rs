//! How a store's connections are pooled: an `r2d2` pool of a bounded size, and a checkout that
//! gives up after a timeout with [`StoreError::Unavailable`].

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use giftcert::StoreError;
use r2d2::{ManageConnection, Pool, PooledConnection};

/// The size of a store's connection pool and how long a request waits for a free connection.
///
/// The defaults ([`PoolOptions::new`], [`Default`]): at most
/// [`DEFAULT_MAX_SIZE`](PoolOptions::DEFAULT_MAX_SIZE) (16) connections, opened as requests
/// need them, and a checkout timeout of
/// [`DEFAULT_CHECKOUT_TIMEOUT`](PoolOptions::DEFAULT_CHECKOUT_TIMEOUT) (5 s). A request that
/// finds every connection busy for that long fails with [`StoreError::Unavailable`] rather than
/// queueing without end.
///
/// ```
/// use std::num::NonZeroU32;
/// use std::time::Duration;
///
/// use giftcert_store_support::PoolOptions;
///
/// let options = PoolOptions::new()
///     .with_max_size(NonZeroU32::new(4).ok_or("zero")?)
///     .with_checkout_timeout(Duration::from_millis(500));
/// assert_eq!(options.max_size().get(), 4);
/// assert_eq!(options.checkout_timeout(), Duration::from_millis(500));
/// assert_eq!(PoolOptions::default().max_size().get(), 16);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PoolOptions {
    max_size: NonZeroU32,
    checkout_timeout: Duration,
}

impl PoolOptions {
    /// The most connections a store opens by default.
    pub const DEFAULT_MAX_SIZE: NonZeroU32 = NonZeroU32::new(16).expect("16 is not zero");
    /// How long a request waits for a free connection by default.
    pub const DEFAULT_CHECKOUT_TIMEOUT: Duration = Duration::from_secs(5);
    /// The shortest checkout timeout: a zero timeout is taken as this.
    pub const MIN_CHECKOUT_TIMEOUT: Duration = Duration::from_millis(1);

    /// The defaults: 16 connections at most, a 5 s checkout timeout.
    #[must_use]
    pub const fn new() -> PoolOptions {
        PoolOptions {
            max_size: PoolOptions::DEFAULT_MAX_SIZE,
            checkout_timeout: PoolOptions::DEFAULT_CHECKOUT_TIMEOUT,
        }
    }

    /// At most `max_size` connections open at once.
    #[must_use]
    pub const fn with_max_size(self, max_size: NonZeroU32) -> PoolOptions {
        PoolOptions { max_size, ..self }
    }

    /// A request waits at most `timeout` for a free connection (at least
    /// [`MIN_CHECKOUT_TIMEOUT`](PoolOptions::MIN_CHECKOUT_TIMEOUT)).
    #[must_use]
    pub const fn with_checkout_timeout(self, timeout: Duration) -> PoolOptions {
        let checkout_timeout = if timeout.is_zero() {
            PoolOptions::MIN_CHECKOUT_TIMEOUT
        } else {
            timeout
        };
        PoolOptions {
            checkout_timeout,
            ..self
        }
    }

    /// The most connections open at once.
    #[must_use]
    pub const fn max_size(&self) -> NonZeroU32 {
        self.max_size
    }

    /// How long a request waits for a free connection.
    #[must_use]
    pub const fn checkout_timeout(&self) -> Duration {
        self.checkout_timeout
    }

    /// A pool of `manager`'s connections sized by these options. It opens no connection until
    /// one is asked for (the store has checked the database when it connected), never checks a
    /// connection before handing it out (a round trip per request; a connection the manager
    /// finds broken after use is dropped instead), and keeps idle connections for reuse.
    pub fn build<M: ManageConnection>(&self, manager: M) -> Pool<M> {
        Pool::builder()
            .max_size(self.max_size.get())
            .min_idle(Some(0))
            .connection_timeout(self.checkout_timeout)
            .test_on_check_out(false)
            .build_unchecked(manager)
    }
}

impl Default for PoolOptions {
    fn default() -> PoolOptions {
        PoolOptions::new()
    }
}

/// A connection from `pool`, waiting at most the pool's checkout timeout.
///
/// # Errors
///
/// [`StoreError::Unavailable`] when no connection became free in time (or none could be
/// opened: the pool's error, the source, then names the last failure).
pub fn checkout<M: ManageConnection>(pool: &Pool<M>) -> Result<PooledConnection<M>, StoreError> {
    let started = Instant::now();
    pool.get().map_err(|e| StoreError::Unavailable {
        waited: started.elapsed(),
        source: Some(Arc::new(e)),
    })
}
