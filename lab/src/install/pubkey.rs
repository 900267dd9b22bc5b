//! The root public key given to `lab make-all`, checked before anything is
//! created.
//!
//! An installed host gets this key in `/root/.ssh/authorized_keys`, written
//! by the kickstart's `%post` from a single-quoted shell word (as
//! Tuchanka's installer does). A mistake found there costs a whole install,
//! so the file is checked up front: one line `TYPE BASE64 [comment]`, a type
//! OpenSSH knows, base64 that decodes to a key blob of that same type, and
//! no `'` outside the comment (Tuchanka's rule: the comment is the only part
//! that may hold one).

use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

/// Key types OpenSSH writes into `.pub` files.
pub const KNOWN_TYPES: &[&str] = &[
    "ssh-ed25519",
    "ssh-rsa",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
];

/// How to make a key that passes, for every error message.
const MAKE_ONE: &str = "give the .pub file of an OpenSSH key (`ssh-keygen -t ed25519` makes one)";

/// A valid OpenSSH public key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicKey {
    /// The key type, e.g. `ssh-ed25519`.
    pub kind: String,
    /// The decoded key blob (it starts with the type again, length-prefixed).
    pub blob: Vec<u8>,
    /// Free text after the key, usually `user@host`; may be empty.
    pub comment: String,
}

/// What is wrong with a key line, with what to do about it.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum KeyProblem {
    #[error("the file is empty; {MAKE_ONE}")]
    Empty,
    #[error("it has {lines} non-empty lines, a public key file has exactly one; {MAKE_ONE}")]
    Lines { lines: usize },
    #[error(
        "it contains `'` outside the comment; the key is written into the host by a shell-quoted line \
         of the kickstart ('...'), so a quote may only appear in the comment after the key"
    )]
    Quote,
    #[error("`{kind}` is not an OpenSSH public key type (expected one of: {}); {MAKE_ONE}", KNOWN_TYPES.join(", "))]
    UnknownType { kind: String },
    #[error("it has no key data after `{kind}` (one line: TYPE BASE64 [comment]); {MAKE_ONE}")]
    NoData { kind: String },
    #[error("the key data is not valid base64; the file may be truncated or edited, {MAKE_ONE}")]
    Base64,
    #[error("the key data holds a `{found}` key but the line says `{kind}`; the file was edited, {MAKE_ONE}")]
    TypeMismatch { kind: String, found: String },
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("public key {}: cannot read: {source}; {MAKE_ONE}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("public key {}: {problem}", path.display())]
    Invalid { path: PathBuf, problem: KeyProblem },
}

impl PublicKey {
    /// Reads and checks a `.pub` file.
    pub fn read(path: &Path) -> Result<Self, KeyError> {
        let text = std::fs::read_to_string(path).map_err(|source| KeyError::Read { path: path.to_owned(), source })?;
        Self::parse(&text).map_err(|problem| KeyError::Invalid { path: path.to_owned(), problem })
    }

    /// Checks the text of a `.pub` file: exactly one non-empty line.
    pub fn parse(text: &str) -> Result<Self, KeyProblem> {
        let lines: Vec<&str> = text.lines().map(str::trim).filter(|line| !line.is_empty()).collect();
        let line = match lines.as_slice() {
            [] => return Err(KeyProblem::Empty),
            [line] => *line,
            _ => return Err(KeyProblem::Lines { lines: lines.len() }),
        };
        let mut parts = line.splitn(3, [' ', '\t']);
        let kind = parts.next().unwrap_or_default();
        let data = parts.next().unwrap_or_default().trim();
        let comment = parts.next().unwrap_or_default().trim();
        if kind.contains('\'') || data.contains('\'') {
            return Err(KeyProblem::Quote);
        }
        if !KNOWN_TYPES.contains(&kind) {
            return Err(KeyProblem::UnknownType { kind: kind.to_owned() });
        }
        if data.is_empty() {
            return Err(KeyProblem::NoData { kind: kind.to_owned() });
        }
        let blob = BASE64.decode(data).map_err(|_| KeyProblem::Base64)?;
        let found = blob_type(&blob).ok_or(KeyProblem::Base64)?;
        if found != kind {
            return Err(KeyProblem::TypeMismatch { kind: kind.to_owned(), found: found.to_owned() });
        }
        Ok(PublicKey { kind: kind.to_owned(), blob, comment: comment.to_owned() })
    }

    /// The key as one `authorized_keys` line: `TYPE BASE64 [comment]`.
    pub fn line(&self) -> String {
        let mut line = format!("{} {}", self.kind, BASE64.encode(&self.blob));
        if !self.comment.is_empty() {
            line.push(' ');
            line.push_str(&self.comment);
        }
        line
    }
}

/// The type string a key blob starts with: a big-endian u32 length, then
/// that many bytes of ASCII.
fn blob_type(blob: &[u8]) -> Option<&str> {
    let length = u32::from_be_bytes(blob.get(..4)?.try_into().ok()?) as usize;
    let kind = blob.get(4..4usize.checked_add(length)?)?;
    std::str::from_utf8(kind).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real ed25519 key made by `ssh-keygen -t ed25519`.
    const ED25519: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIL4z5iK1D0NdwKlKdYJs20SxkDKdkhnfEzRV6zjg1GR7 alice@laptop";

    /// A blob of `kind` followed by some key bytes, base64-encoded.
    fn data(kind: &str) -> String {
        let mut blob = (kind.len() as u32).to_be_bytes().to_vec();
        blob.extend_from_slice(kind.as_bytes());
        blob.extend_from_slice(&[0, 0, 0, 3, 1, 2, 3]);
        BASE64.encode(&blob)
    }

    #[test]
    fn a_real_key_is_parsed_and_written_back_unchanged() {
        let key = PublicKey::parse(&format!("{ED25519}\n")).expect("valid");
        assert_eq!(key.kind, "ssh-ed25519");
        assert_eq!(key.comment, "alice@laptop");
        assert_eq!(key.blob.len(), 51);
        assert_eq!(key.line(), ED25519);
    }

    #[test]
    fn every_known_type_is_accepted_with_or_without_comment() {
        for kind in KNOWN_TYPES {
            let key = PublicKey::parse(&format!("{kind} {}", data(kind))).expect(kind);
            assert_eq!(key.comment, "");
            assert_eq!(key.line(), format!("{kind} {}", data(kind)));
        }
    }

    #[test]
    fn a_quote_in_the_comment_is_fine() {
        let key = PublicKey::parse(&format!("ssh-rsa {} bob's key\r\n", data("ssh-rsa"))).expect("valid");
        assert_eq!(key.comment, "bob's key");
    }

    #[test]
    fn a_quote_outside_the_comment_is_refused_with_the_reason() {
        for line in [format!("ssh-rsa' {}", data("ssh-rsa")), format!("ssh-rsa {}' c", data("ssh-rsa"))] {
            let problem = PublicKey::parse(&line).expect_err("quote");
            assert_eq!(problem, KeyProblem::Quote);
            let message = problem.to_string();
            assert!(message.contains("shell-quoted line of the kickstart"), "{message}");
            assert!(message.contains("only appear in the comment"), "{message}");
        }
    }

    #[test]
    fn bad_lines_are_refused() {
        assert_eq!(PublicKey::parse(" \n\n"), Err(KeyProblem::Empty));
        assert_eq!(PublicKey::parse(&format!("{ED25519}\n{ED25519}\n")), Err(KeyProblem::Lines { lines: 2 }));
        assert!(matches!(PublicKey::parse("-----BEGIN OPENSSH PRIVATE KEY-----"), Err(KeyProblem::UnknownType { .. })));
        assert!(matches!(PublicKey::parse("ssh-dss AAAA"), Err(KeyProblem::UnknownType { .. })));
        assert_eq!(PublicKey::parse("ssh-ed25519"), Err(KeyProblem::NoData { kind: "ssh-ed25519".into() }));
        assert_eq!(PublicKey::parse("ssh-ed25519 AAAA*AAA"), Err(KeyProblem::Base64));
        assert_eq!(PublicKey::parse("ssh-ed25519 AAAA"), Err(KeyProblem::Base64), "blob too short for its type");
        assert_eq!(
            PublicKey::parse(&format!("ssh-ed25519 {}", data("ssh-rsa"))),
            Err(KeyProblem::TypeMismatch { kind: "ssh-ed25519".into(), found: "ssh-rsa".into() })
        );
    }

    #[test]
    fn key_data_is_strict_padded_base64() {
        // RFC 4648 section 10.
        for (plain, encoded) in [("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foobar", "Zm9vYmFy")] {
            assert_eq!(BASE64.encode(plain), encoded);
            assert_eq!(BASE64.decode(encoded).as_deref(), Ok(plain.as_bytes()), "{encoded}");
        }
        // Missing or stray padding, data after it, a foreign character, stray bits, a newline.
        for bad in ["Zg", "Zg=", "Z===", "Zg==Zm9v", "Zm9*", "Zh==", "Zm9v\n"] {
            assert!(BASE64.decode(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn errors_name_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let missing = dir.path().join("nope.pub");
        let message = PublicKey::read(&missing).expect_err("missing").to_string();
        assert!(message.starts_with(&format!("public key {}: cannot read", missing.display())), "{message}");
        assert!(message.contains("ssh-keygen"), "{message}");

        let private = dir.path().join("id_ed25519");
        std::fs::write(&private, "-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn\n-----END OPENSSH PRIVATE KEY-----\n")
            .expect("write");
        let message = PublicKey::read(&private).expect_err("private key").to_string();
        assert!(message.contains(&private.display().to_string()), "{message}");
        assert!(message.contains("3 non-empty lines"), "{message}");

        let good = dir.path().join("id.pub");
        std::fs::write(&good, format!("{ED25519}\n")).expect("write");
        assert_eq!(PublicKey::read(&good).expect("valid").line(), ED25519);
    }
}
