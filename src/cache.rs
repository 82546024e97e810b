//! The verified-token cache: a token that verified once is not verified again while it stays valid.
//!
//! Only tokens that passed every check are inserted, so a client cannot fill the cache with garbage. An
//! entry is keyed by the whole token (a fast hash of the signature's last bytes to find it, then a full
//! comparison: a hash alone is never trusted) and served only while
//! - the token is inside its `nbf`/`exp` window, leeway included, as verification judges it (a coarse
//!   clock reading is taken at whichever end of its tick makes the check stricter);
//! - the entry is younger than the cache TTL (on the wall clock, like the token's window, so that a hit
//!   reads the clock once; see [`crate::clock`] for which clock, and how a coarse one is read
//!   conservatively);
//! - the key a lookup returns for the token is still the key that verified it (same material and
//!   algorithm), so a key set that removes or replaces a key invalidates what that key verified.
//!
//! Per-request checks still run on a hit: the token sources' transport rules before the lookup, the
//! claims-check hook after it. Shards with their own locks keep concurrent hits from contending on one
//! lock. Memory is bounded by the entry count: each entry holds the token (at most the token size cap,
//! 8 KiB by default), the claims and about 155 bytes of bookkeeping.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::ops::Range;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use crate::claims::VerifiedHeader;
use crate::clock::{HitClock, TimeBounds};
use crate::verify::Window;

/// Bytes at the end of the token (in its signature) that are hashed.
const HASHED_TAIL: usize = 32;

/// Shards: enough that two cores (or sixteen) rarely meet on one lock. A power of two, so that a hit
/// picks its shard with a mask, not a division.
const SHARDS: usize = 16;
const _: () = assert!(SHARDS.is_power_of_two());

pub(crate) struct TokenCache<C> {
    shards: Box<[Mutex<Shard<C>>; SHARDS]>,
    per_shard: usize,
    ttl: Duration,
    clock: HitClock,
}

type Shard<C> = HashMap<u64, Entry<C>, BuildHasherDefault<AlreadyHashed>>;

struct Entry<C> {
    token: Box<str>,
    claims: C,
    header: VerifiedHeader,
    token_kid: Option<Arc<str>>,
    fingerprint: u64,
    window: Window,
    payload: Range<u32>,
    /// Since the epoch, on the clock the time window is judged by: a hit reads the clock once.
    cached_until: Duration,
}

/// What a hit gives back: the claims (and the header, when asked) to insert, and what the key check
/// needs (when asked).
pub(crate) struct Hit<C> {
    pub(crate) claims: C,
    pub(crate) header: Option<VerifiedHeader>,
    pub(crate) key: Option<KeyUsed>,
}

/// Enough to look the key up again and tell whether it is the one that verified the token.
pub(crate) struct KeyUsed {
    pub(crate) alg: jsonwebtoken::Algorithm,
    /// The `kid` the token itself carried (not the key's); shared so that a hit does not allocate for it.
    pub(crate) token_kid: Option<Arc<str>>,
    pub(crate) fingerprint: u64,
    /// Where the token's payload is, so that a hit need not search for it.
    pub(crate) payload: Range<u32>,
}

/// What a verification adds to the cache.
pub(crate) struct Verified<'a, C> {
    pub(crate) claims: &'a C,
    pub(crate) header: &'a VerifiedHeader,
    pub(crate) token_kid: Option<&'a str>,
    pub(crate) fingerprint: u64,
    pub(crate) window: Window,
    pub(crate) payload: Range<usize>,
}

impl<C: Clone> TokenCache<C> {
    /// A cache of at most `capacity` entries (rounded up to a multiple of the shard count), each served
    /// for at most `ttl`.
    pub(crate) fn new(capacity: usize, ttl: Duration) -> Self {
        let per_shard = capacity.div_ceil(SHARDS).max(1);
        let shards = Box::new(std::array::from_fn(|_| {
            Mutex::new(Shard::with_capacity_and_hasher(0, Default::default()))
        }));
        Self {
            shards,
            per_shard,
            ttl,
            clock: HitClock::new(),
        }
    }

    /// The time as a hit judges it.
    pub(crate) fn now(&self) -> TimeBounds {
        self.clock.now()
    }

    fn shard(&self, hash: u64) -> MutexGuard<'_, Shard<C>> {
        self.shards[shard_index(hash)]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The entry for `token`, if it is younger than the TTL at the latest time `now` allows and its
    /// token's time window is still `valid`; its header only `with_header`, what verified it only
    /// `with_key`.
    #[inline]
    pub(crate) fn get(
        &self,
        token: &[u8],
        now: TimeBounds,
        valid: impl FnOnce(&Window) -> bool,
        with_header: bool,
        with_key: bool,
    ) -> Option<Hit<C>> {
        let hash = hash(token);
        let shard = self.shard(hash);
        let entry = shard.get(&hash)?;
        if entry.token.as_bytes() != token
            || now.latest >= entry.cached_until
            || !valid(&entry.window)
        {
            return None;
        }
        Some(Hit {
            claims: entry.claims.clone(),
            header: with_header.then(|| entry.header.clone()),
            key: with_key.then(|| KeyUsed {
                alg: entry.header.alg(),
                token_kid: entry.token_kid.clone(),
                fingerprint: entry.fingerprint,
                payload: entry.payload.clone(),
            }),
        })
    }

    pub(crate) fn insert(&self, token: &str, verified: Verified<'_, C>, now: Duration) {
        // Offsets in 32 bits keep the entry small; a token of 4 GiB is not cached.
        let (Ok(start), Ok(end)) = (
            u32::try_from(verified.payload.start),
            u32::try_from(verified.payload.end),
        ) else {
            return;
        };
        let hash = hash(token.as_bytes());
        let entry = Entry {
            token: token.into(),
            claims: verified.claims.clone(),
            header: verified.header.clone(),
            token_kid: verified.token_kid.map(Into::into),
            fingerprint: verified.fingerprint,
            window: verified.window,
            payload: start..end,
            cached_until: now.saturating_add(self.ttl),
        };
        let mut shard = self.shard(hash);
        if shard.len() >= self.per_shard && !shard.contains_key(&hash) {
            // Expired entries go first; then any one: a bounded cache, not an LRU.
            shard.retain(|_, entry| entry.cached_until > now);
            if shard.len() >= self.per_shard
                && let Some(victim) = shard.keys().next().copied()
            {
                shard.remove(&victim);
            }
        }
        shard.insert(hash, entry);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().unwrap().len()).sum()
    }
}

/// The shard of a hash: middle bits, which the shard's map uses for neither its buckets (low bits) nor
/// its control bytes (top bits).
fn shard_index(hash: u64) -> usize {
    (hash >> 32) as usize & (SHARDS - 1)
}

/// A fast hash of the token's last bytes (in its signature). Not keyed: only verified tokens are inserted
/// and a valid signature cannot be chosen, so its tail spreads entries as well as the whole token would,
/// and a collision only costs a miss (the full token is compared).
fn hash(bytes: &[u8]) -> u64 {
    // Each has bytes outside base64url: no word of a valid token cancels one out.
    const SEEDS: [u64; 4] = [
        0x243F_6A88_85A3_08D3,
        0x1319_8A2E_0370_7344,
        0xA409_3822_299F_31D0,
        0x082E_FA98_EC4E_6C89,
    ];
    let length = bytes.len() as u64;
    let word = |w: &[u8; 8], seed: u64| u64::from_le_bytes(*w) ^ seed;
    match bytes[bytes.len().saturating_sub(HASHED_TAIL)..].as_chunks::<8>() {
        // Every real token: four words, hashed without a copy in two independent products.
        ([a, b, c, d], []) => {
            fold(word(a, SEEDS[0]), word(b, SEEDS[1] ^ length))
                ^ fold(word(c, SEEDS[2]), word(d, SEEDS[3]))
        }
        _ => bytes.chunks(8).fold(SEEDS[0] ^ length, |hash, piece| {
            let mut padded = [0u8; 8];
            padded[..piece.len()].copy_from_slice(piece);
            fold(hash, word(&padded, SEEDS[1]))
        }),
    }
}

/// The folded 128-bit product: each output bit depends on every input bit.
fn fold(a: u64, b: u64) -> u64 {
    let product = u128::from(a) * u128::from(b);
    (product as u64) ^ (product >> 64) as u64
}

/// The map's keys are already hashes.
#[derive(Default)]
pub(crate) struct AlreadyHashed(u64);

impl Hasher for AlreadyHashed {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only u64 keys are hashed; this keeps the trait total.
        for byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*byte);
        }
    }

    fn write_u64(&mut self, value: u64) {
        self.0 = value;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::Algorithm;

    fn verified<'a>(claims: &'a String, header: &'a VerifiedHeader) -> Verified<'a, String> {
        Verified {
            claims,
            header,
            token_kid: None,
            fingerprint: 7,
            window: Window {
                not_before: None,
                expires: None,
            },
            payload: 2..3,
        }
    }

    #[test]
    fn hits_compare_the_whole_token_and_respect_the_ttl() {
        let header = VerifiedHeader::new(Algorithm::HS256, None, None);
        let cache = TokenCache::new(100, Duration::from_millis(50));
        let claims = "claims".to_owned();
        let time = |millis| Duration::from_secs(1_700_000_000) + Duration::from_millis(millis);
        let at = |millis| TimeBounds::exact(time(millis));
        cache.insert("a.b.c", verified(&claims, &header), time(0));
        let get = |token: &[u8], now, valid: bool| cache.get(token, now, |_| valid, false, false);
        assert_eq!(get(b"a.b.c", at(49), true).unwrap().claims, "claims");
        assert!(get(b"a.b.d", at(0), true).is_none());
        assert!(
            get(b"a.b.c", at(1), false).is_none(),
            "served outside its time window"
        );
        assert!(get(b"a.b.", at(0), true).is_none());
        assert!(get(b"a.b.c", at(50), true).is_none(), "served past its TTL");
        let late = TimeBounds {
            earliest: time(40),
            latest: time(50),
        };
        assert!(
            get(b"a.b.c", late, true).is_none(),
            "served when it may be past its TTL"
        );
    }

    #[test]
    fn the_entry_count_is_bounded() {
        let header = VerifiedHeader::new(Algorithm::HS256, None, None);
        let cache = TokenCache::new(64, Duration::from_secs(60));
        let claims = String::new();
        let now = Duration::from_secs(1_700_000_000);
        for i in 0..10_000 {
            cache.insert(&format!("token-{i}"), verified(&claims, &header), now);
        }
        assert!(cache.len() <= 64, "{}", cache.len());
    }

    #[test]
    fn the_hash_spreads_near_identical_tokens() {
        // Short tokens (hashed whole) and real-sized ones (hashed by their last 32 bytes), differing in
        // the first or the last word of that tail.
        let hashes: std::collections::HashSet<u64> = (0..10_000)
            .flat_map(|i| {
                [
                    format!("eyJhbGciOi.eyJzdWIiOi.sig{i}"),
                    format!("eyJhbGciOi.eyJzdWIiOi.{}{i}", "s".repeat(40)),
                    format!("eyJhbGciOi.eyJzdWIiOi.{i:08}{}", "s".repeat(24)),
                ]
            })
            .map(|token| hash(token.as_bytes()))
            .collect();
        assert_eq!(hashes.len(), 30_000);
        let mut per_shard = [0usize; SHARDS];
        for hash in &hashes {
            per_shard[shard_index(*hash)] += 1;
        }
        let even = hashes.len() / SHARDS;
        assert!(
            per_shard.iter().all(|n| n.abs_diff(even) < even / 4),
            "{per_shard:?}"
        );
    }
}

#[cfg(test)]
mod size {
    /// The documented per-entry bookkeeping (README, `cache_capacity`): the entry without its claims, the
    /// map's key and control byte, beside the heap copies of the token and kid.
    #[test]
    fn bookkeeping_per_entry_is_as_documented() {
        let entry = std::mem::size_of::<super::Entry<()>>();
        let map_slot = std::mem::size_of::<u64>() + 1;
        println!("entry {entry} B + map slot {map_slot} B");
        assert!(entry + map_slot <= 160, "{entry} + {map_slot} bytes");
    }
}
