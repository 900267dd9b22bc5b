//! Installing hosts: the embedded Debian guest image, or a RHEL-like ISO
//! with a kickstart, and each host's own identity.
//!
//! # Layout
//! - [`image`]: the guest image built with mmdebstrap, cached per recipe.
//! - [`iso`], [`kickstart`], [`repo_mirror`]: hosts installed from an ISO,
//!   with the repositories it lacks served inside a QEMU lab.
//! - [`distro`]: every difference between the guest distributions.
//! - [`identity`]: per-host keys and files, known before the first boot;
//!   [`pubkey`] and [`sha_crypt`] for the keys and passwords it writes.

pub mod distro;
pub mod identity;
pub mod image;
pub mod iso;
pub mod kickstart;
pub mod pubkey;
pub mod repo_mirror;
pub mod sha_crypt;
