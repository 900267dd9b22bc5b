//! SHA-512 crypt (`$6$`), the password hash a kickstart's `rootpw
//! --iscrypted` takes and `/etc/shadow` stores on RHEL-like hosts.
//!
//! The root password of an installed host is generated per lab (useful on
//! the VM console only, ssh takes keys); the kickstart carries just its
//! hash. This is Ulrich Drepper's published algorithm ("Unix crypt using
//! SHA-256 and SHA-512") over the `sha2` crate lab already uses, checked
//! against the specification's test vectors.

use rand::RngExt;
use sha2::{Digest, Sha512};

/// The crypt(3) base64 alphabet (not RFC 4648's).
const ALPHABET: &[u8; 64] = b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/// Rounds when the salt does not say (`rounds=N$` is then left out).
const DEFAULT_ROUNDS: u32 = 5000;
/// The longest salt the algorithm uses; longer salts are cut.
const MAX_SALT: usize = 16;

/// Hashes `password` with a fresh random 16-character salt and the default
/// rounds: `$6$<salt>$<hash>`.
pub fn hash_password(password: &str) -> String {
    let mut rng = rand::rng();
    let salt: String = (0..MAX_SALT).map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())])).collect();
    sha512_crypt(password.as_bytes(), &salt, None)
}

/// SHA-512 crypt of `password` with `salt` (at most 16 bytes are used) and
/// `rounds` (`None`: 5000, not written out; otherwise clamped to
/// 1000..=999999999 and written as `rounds=N$`).
pub fn sha512_crypt(password: &[u8], salt: &str, rounds: Option<u32>) -> String {
    let salt = &salt.as_bytes()[..salt.len().min(MAX_SALT)];
    let rounds_used = rounds.map_or(DEFAULT_ROUNDS, |r| r.clamp(1000, 999_999_999));
    let p = password;

    let b = Sha512::new().chain_update(p).chain_update(salt).chain_update(p).finalize();
    let mut a = Sha512::new().chain_update(p).chain_update(salt);
    a.update(repeat(&b, p.len()));
    let mut length = p.len();
    while length > 0 {
        if length & 1 == 1 {
            a.update(b);
        } else {
            a.update(p);
        }
        length >>= 1;
    }
    let a = a.finalize();

    let mut dp = Sha512::new();
    for _ in 0..p.len() {
        dp.update(p);
    }
    let p_seq = repeat(&dp.finalize(), p.len());
    let mut ds = Sha512::new();
    for _ in 0..16 + usize::from(a[0]) {
        ds.update(salt);
    }
    let s_seq = repeat(&ds.finalize(), salt.len());

    let mut c = a;
    for round in 0..rounds_used {
        let mut h = Sha512::new();
        if round % 2 == 1 {
            h.update(&p_seq);
        } else {
            h.update(c);
        }
        if round % 3 != 0 {
            h.update(&s_seq);
        }
        if round % 7 != 0 {
            h.update(&p_seq);
        }
        if round % 2 == 1 {
            h.update(c);
        } else {
            h.update(&p_seq);
        }
        c = h.finalize();
    }

    let mut out = String::from("$6$");
    if rounds.is_some() {
        out.push_str(&format!("rounds={rounds_used}$"));
    }
    out.push_str(&String::from_utf8_lossy(salt));
    out.push('$');
    // The specification's byte order: 21 groups of three, then the last byte.
    for i in 0..21 {
        let (x, y, z) = (i * 22 % 63, (i * 22 + 21) % 63, (i * 22 + 42) % 63);
        encode_24(&mut out, c[x], c[y], c[z], 4);
    }
    encode_24(&mut out, 0, 0, c[63], 2);
    out
}

/// `digest` repeated to exactly `length` bytes.
fn repeat(digest: &[u8], length: usize) -> Vec<u8> {
    digest.iter().copied().cycle().take(length).collect()
}

fn encode_24(out: &mut String, b2: u8, b1: u8, b0: u8, chars: usize) {
    let mut word = u32::from(b2) << 16 | u32::from(b1) << 8 | u32::from(b0);
    for _ in 0..chars {
        out.push(char::from(ALPHABET[(word & 0x3f) as usize]));
        word >>= 6;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specification_test_vectors() {
        let cases: &[(&str, Option<u32>, &str, &str)] = &[
            (
                "saltstring",
                None,
                "Hello world!",
                "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1",
            ),
            (
                "saltstringsaltstring",
                Some(10000),
                "Hello world!",
                "$6$rounds=10000$saltstringsaltst$OW1/O6BYHV6BcXZu8QVeXbDWra3Oeqh0sbHbbMCVNSnCM/UrjmM0Dp8vOuZeHBy/\
                 YTBmSK6H9qs/y3RnOaw5v.",
            ),
            (
                "anotherlongsaltstring",
                Some(1400),
                "a very much longer text to encrypt.  This one even stretches over morethan one line.",
                "$6$rounds=1400$anotherlongsalts$POfYwTEok97VWcjxIiSOjiykti.o/pQs.wPvMxQ6Fm7I6IoYN3CmLs66x9t0oSwbtEW7o7\
                 UmJEiDwGqd8p4ur1",
            ),
            (
                "roundstoolow",
                Some(10),
                "the minimum number is still observed",
                "$6$rounds=1000$roundstoolow$kUMsbe306n21p9R.FRkW3IGn.S9NPN0x50YhH1xhLsPuWGsUSklZt58jaTfF4ZEQpyUNGc0dqbp\
                 BYYBaHHrsX.",
            ),
        ];
        for (salt, rounds, password, expected) in cases {
            assert_eq!(sha512_crypt(password.as_bytes(), salt, *rounds), *expected, "{password}");
        }
    }

    #[test]
    fn random_salts_differ_and_match_openssl_format() {
        let first = hash_password("secret");
        let second = hash_password("secret");
        assert_ne!(first, second);
        let parts: Vec<&str> = first.split('$').collect();
        assert_eq!(parts.len(), 4, "{first}");
        assert_eq!((parts[0], parts[1], parts[2].len(), parts[3].len()), ("", "6", 16, 86));
        assert_eq!(sha512_crypt(b"secret", parts[2], None), first);
    }
}
