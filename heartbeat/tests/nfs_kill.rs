//! Kill -9 a real NFS server (NFS-Ganesha) under a running writer and
//! reader, restart it, and check what the probes recorded: one outage
//! spanning the downtime, recovery afterwards, and every acknowledged
//! record still in the file. The lost-write check can fail, and reads only
//! its own run's file; the reader follows the writer; a stale file handle
//! is forgotten and the file found again.
//!
//! Each test runs in a network namespace of its own with its own rpcbind
//! and ganesha (see `support::nfs_server`): run as root.

mod support;

use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::time::Duration;

use heartbeat::{
    AckError, Attempt, NfsReader, NfsTarget, NfsWriter, Outcome, Probe, check_nfs_acknowledged, file_name,
};
use support::kill_restart::{Plan, kill_and_restart, plan, settings};
use support::nfs_server::{NFS_PORT, NfsServer, in_own_network_namespace};
use support::writer_recording;

const PLAN: Plan = plan(Duration::from_secs(30));

/// Writes attempts `seqs` of `writer`, each of which must be acknowledged.
async fn write(writer: &NfsWriter, seqs: impl IntoIterator<Item = u64>) {
    for seq in seqs {
        assert_eq!(writer.attempt(seq).await, (Outcome::Ok, None), "write {seq}");
    }
}

/// Overwrites record `seq` of run `run_id`'s file on the server's disk.
fn overwrite(server: &NfsServer, run_id: &str, seq: u64, bytes: &[u8; 32]) {
    let path = server.export_dir().join(file_name(run_id));
    let file = OpenOptions::new().write(true).open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    file.write_all_at(bytes, seq * 32).expect("overwrite a record");
}

#[test]
fn kill_nine_then_restart_loses_no_acknowledged_record() {
    in_own_network_namespace(|| async {
        let mut server = NfsServer::start().await;
        let target = server.target();
        let run_id = "kill9:restart";
        let writer = NfsWriter::new(target.clone(), settings(), run_id);
        let reader = NfsReader::new(target.clone(), settings(), run_id);
        let run = kill_and_restart(&mut server, writer, reader, run_id, PLAN).await;

        run.assert_one_writer_outage_over_the_downtime();
        run.assert_reader_saw_every_acknowledged_write();
        // rpcbind still names the dead nfsd's port, which refuses.
        let refused: Vec<&Attempt> = run
            .writer
            .attempts
            .iter()
            .filter(|a| a.started > run.killed_at && a.completed() < run.restarted_at)
            .filter(|a| matches!(a.outcome, Outcome::ConnectFailed { .. }))
            .collect();
        assert!(refused.len() >= 10, "a dead server must refuse connections, every attempt: {refused:?}");
        let error = refused[0].outcome.error().unwrap_or_default();
        assert!(error.contains(&format!("127.0.0.1:{NFS_PORT}")), "{error}");

        // Ganesha writes FILE_SYNC through before it answers.
        let check = check_nfs_acknowledged(&target, &settings(), &run.writer).await.expect("check");
        run.assert_no_acknowledged_write_lost(&check);
    });
}

#[test]
fn the_check_fails_on_a_damaged_record_and_ignores_other_runs() {
    in_own_network_namespace(|| async {
        let server = NfsServer::start().await;
        // Another run writes the very records this run will lose.
        let other = NfsWriter::new(server.target(), settings(), "other-run");
        write(&other, 0..5).await;
        let writer = NfsWriter::new(server.target(), settings(), "mine");
        write(&writer, 0..5).await;

        let mut recording = writer_recording("mine", vec![Outcome::Ok; 5]);
        let check = check_nfs_acknowledged(&server.target(), &settings(), &recording).await.expect("check");
        assert!(check.is_intact() && (check.acknowledged, check.present) == (5, 5), "{check:?}");

        // Record 2 zeroed (a hole), record 3 holding another number.
        overwrite(&server, "mine", 2, &[0; 32]);
        overwrite(&server, "mine", 3, format!("{:>31}\n", 1).as_bytes().try_into().expect("32 bytes"));
        // A write claimed acknowledged that never reached the server, one
        // that reached it unacknowledged, and one past the first 64 KiB read.
        recording.attempts.push(Attempt { seq: 99, ..recording.attempts[0].clone() });
        recording.attempts[4].outcome = Outcome::Timeout;
        write(&writer, [3000]).await;
        recording.attempts.push(Attempt { seq: 3000, ..recording.attempts[0].clone() });
        let check = check_nfs_acknowledged(&server.target(), &settings(), &recording).await.expect("check");
        assert_eq!(check.lost, vec![2, 3, 99]);
        assert_eq!((check.acknowledged, check.present), (6, 3));
        assert_eq!(check.unacknowledged, vec![4]);

        let recording = writer_recording("other-run", vec![Outcome::Ok; 5]);
        let check = check_nfs_acknowledged(&server.target(), &settings(), &recording).await.expect("check");
        assert!(check.is_intact() && check.present == 5, "the other run's file is untouched: {check:?}");

        // A run that never wrote has no file: everything it claims is lost.
        let recording = writer_recording("never-written", vec![Outcome::Ok]);
        let check = check_nfs_acknowledged(&server.target(), &settings(), &recording).await.expect("check");
        assert_eq!(check.lost, vec![0]);
    });
}

#[test]
fn a_reader_sees_the_writers_latest_record() {
    in_own_network_namespace(|| async {
        let server = NfsServer::start().await;
        let reader = NfsReader::new(server.target(), settings(), "followed");
        assert_eq!(reader.attempt(0).await, (Outcome::Ok, None), "the file is created empty");
        let writer = NfsWriter::new(server.target(), settings(), "followed");
        write(&writer, [0]).await;
        assert_eq!(reader.attempt(1).await, (Outcome::Ok, Some(0)));
        write(&writer, [1, 2]).await;
        assert_eq!(reader.attempt(2).await, (Outcome::Ok, Some(2)));
        // Attempts overlap: a later seq may land first, leaving a hole.
        write(&writer, [5]).await;
        assert_eq!(reader.attempt(3).await, (Outcome::Ok, Some(5)));
        write(&writer, [4]).await;
        assert_eq!(reader.attempt(4).await, (Outcome::Ok, Some(5)));
        let path = server.export_dir().join(file_name("followed"));
        let text = std::fs::read_to_string(&path).expect("the file on the server's disk");
        assert!(text.starts_with(&format!("{:>31}\n{:>31}\n", 0, 1)), "{text:?}");
    });
}

#[test]
fn a_stale_file_handle_is_forgotten_and_the_file_found_again() {
    in_own_network_namespace(|| async {
        let mut server = NfsServer::start().await;
        let writer = NfsWriter::new(server.target(), settings(), "stale");
        write(&writer, 0..3).await;
        // The file goes while the server is down: its handle is stale after.
        server.kill9();
        std::fs::remove_file(server.export_dir().join(file_name("stale"))).expect("remove the file");
        server.restart().await;

        // The connection kept from before the kill is closed: the attempt
        // fails at once (not at its timeout) and drops it.
        let started = std::time::Instant::now();
        let (outcome, _) = writer.attempt(3).await;
        let error = outcome.error().unwrap_or_default().to_owned();
        assert!(error.ends_with("WRITE at offset 96: connection closed by the server"), "{outcome:?}");
        assert!(started.elapsed() < settings().query_timeout / 2, "took {:?}", started.elapsed());
        // A new connection, with the old handle.
        let (outcome, _) = writer.attempt(4).await;
        let error = outcome.error().unwrap_or_default().to_owned();
        assert!(matches!(outcome, Outcome::QueryFailed { .. }), "{outcome:?}");
        assert_eq!(error, format!("127.0.0.1:{NFS_PORT}: WRITE at offset 128: NFS3ERR_STALE"));
        // The next attempt mounts again and creates the file anew.
        write(&writer, [5]).await;
        let recording = writer_recording("stale", vec![Outcome::Ok; 6]);
        let check = check_nfs_acknowledged(&server.target(), &settings(), &recording).await.expect("check");
        assert_eq!(check.lost, vec![0, 1, 2, 3, 4], "only record 5 is in the new file");
    });
}

#[tokio::test]
async fn nobody_listening_is_connect_failed() {
    let closed = NfsTarget { host: "127.0.0.1".into(), export: "/srv".into(), portmap_port: support::free_port() };
    let port = closed.portmap_port;
    let writer = NfsWriter::new(closed.clone(), settings(), "x");
    let (outcome, _) = writer.attempt(0).await;
    assert!(matches!(outcome, Outcome::ConnectFailed { .. }), "{outcome:?}");
    let error = outcome.error().unwrap_or_default();
    assert!(error.starts_with(&format!("connecting to 127.0.0.1:{port} failed")), "{error}");
    let reader = NfsReader::new(closed.clone(), settings(), "x");
    assert!(matches!(reader.attempt(0).await.0, Outcome::ConnectFailed { .. }));
    let err = check_nfs_acknowledged(&closed, &settings(), &writer_recording("x", vec![Outcome::Ok]))
        .await
        .expect_err("nothing listens there");
    assert!(matches!(err, AckError::Connect(_)), "{err}");
}
