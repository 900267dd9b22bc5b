//! SHA-512 crypt (`$6$`), the password hash a kickstart's `rootpw
//! --iscrypted` takes and `/etc/shadow` stores on RHEL-like hosts.
//!
//! The root password of an installed host is generated per lab (useful on
//! the VM console only, ssh takes keys); the kickstart carries just its
//! hash. The algorithm is RustCrypto's `sha-crypt` (security code is not
//! written here); the tests hold it to the specification's test vectors.

use rand::RngExt;
use sha_crypt::{PasswordHasher, ShaCrypt};

/// Random salt bytes: 12 bytes are the 16 salt characters the algorithm
/// uses at most.
const SALT_BYTES: usize = 12;

/// Hashes `password` with a fresh random salt and the default 5000 rounds:
/// `$6$rounds=5000$<16 characters>$<86 characters>`.
pub fn hash_password(password: &str) -> String {
    let mut salt = [0u8; SALT_BYTES];
    rand::rng().fill(&mut salt);
    hash_password_with_salt(password, &salt)
}

/// Hashes `password` with `salt` (raw bytes, written out in crypt's base64):
/// the same inputs always give the same hash, for golden files.
pub fn hash_password_with_salt(password: &str, salt: &[u8]) -> String {
    // SHA-512 with 5000 rounds and a salt of at most 16 characters cannot
    // be refused: the parameters are the algorithm's own defaults.
    match ShaCrypt::SHA512.hash_password_with_salt(password.as_bytes(), salt) {
        Ok(hash) => hash.to_string(),
        Err(e) => unreachable!("SHA-512 crypt with default parameters failed: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use sha_crypt::PasswordVerifier;

    use super::*;

    /// The specification's test vectors ("Unix crypt using SHA-256 and
    /// SHA-512", Drepper): the library must accept exactly these.
    #[test]
    fn specification_test_vectors() {
        let cases = [
            (
                "Hello world!",
                "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1",
            ),
            (
                "Hello world!",
                "$6$rounds=10000$saltstringsaltst$OW1/O6BYHV6BcXZu8QVeXbDWra3Oeqh0sbHbbMCVNSnCM/UrjmM0Dp8vOuZeHBy/\
                 YTBmSK6H9qs/y3RnOaw5v.",
            ),
            (
                "a very much longer text to encrypt.  This one even stretches over morethan one line.",
                "$6$rounds=1400$anotherlongsalts$POfYwTEok97VWcjxIiSOjiykti.o/pQs.wPvMxQ6Fm7I6IoYN3CmLs66x9t0oSwbtEW7o7\
                 UmJEiDwGqd8p4ur1",
            ),
            (
                "the minimum number is still observed",
                "$6$rounds=1000$roundstoolow$kUMsbe306n21p9R.FRkW3IGn.S9NPN0x50YhH1xhLsPuWGsUSklZt58jaTfF4ZEQpyUNGc0dqbp\
                 BYYBaHHrsX.",
            ),
        ];
        for (password, hash) in cases {
            assert!(ShaCrypt::SHA512.verify_password(password.as_bytes(), hash).is_ok(), "{hash}");
            assert!(ShaCrypt::SHA512.verify_password(b"wrong", hash).is_err(), "{hash}");
        }
    }

    #[test]
    fn random_salts_differ_and_the_hash_verifies() {
        let first = hash_password("secret");
        let second = hash_password("secret");
        assert_ne!(first, second);
        let parts: Vec<&str> = first.split('$').collect();
        assert_eq!(parts.len(), 5, "{first}");
        assert_eq!((parts[0], parts[1], parts[2], parts[3].len(), parts[4].len()), ("", "6", "rounds=5000", 16, 86));
        assert!(ShaCrypt::SHA512.verify_password(b"secret", first.as_str()).is_ok());
    }

    #[test]
    fn a_given_salt_gives_the_same_hash() {
        assert_eq!(
            hash_password_with_salt("secret", b"fixed salt!!"),
            hash_password_with_salt("secret", b"fixed salt!!")
        );
    }
}
