//! File sync against an in-process receiver that does what BuildKit's does: reads the STATs,
//! checks their order, asks for every file by index, and ends with FIN.

use std::collections::HashMap;
use std::path::Path;

use bollard_buildkit_proto::fsutil::types::packet::PacketType;
use bollard_buildkit_proto::fsutil::types::{Packet, Stat};
use bollard_buildkit_proto::moby::filesync::v1::file_sync_client::FileSyncClient;
use bollard_buildkit_proto::moby::filesync::v1::file_sync_server::FileSyncServer;
use tokio::sync::mpsc;

use super::*;

fn entry(name: &str) -> SyncEntry {
    SyncEntry {
        name: name.into(),
        path: PathBuf::from("/nowhere").join(name),
    }
}

fn names(entries: &[SyncEntry]) -> Vec<&str> {
    entries.iter().map(|e| e.name.as_str()).collect()
}

#[test]
fn entries_are_in_fsutil_s_walk_order() {
    let dirs = SyncedDirs::default().with(
        "context",
        ["a.b", "b/c", "a/z", "b", "a", "A", "a/b"].map(|n| (n.to_string(), PathBuf::from(n))),
    );
    let entries = &dirs.dirs["context"];
    // Per path component, byte by byte: a folder's contents come right after it, before a
    // sibling whose name merely starts with the folder's.
    assert_eq!(names(entries), ["A", "a", "a/b", "a/z", "a.b", "b", "b/c"]);
}

#[test]
fn what_the_daemon_asks_for_is_selected_with_the_folders_above_it() {
    let all: Vec<SyncEntry> = [
        "Dockerfile",
        "docs",
        "docs/keep",
        "docs/keep/a.md",
        "docs/b.md",
        "src",
        "src/x.log",
        "src/main.rs",
    ]
    .map(entry)
    .to_vec();
    let asked = |includes: &[&str], excludes: &[&str], follow: &[&str]| Asked {
        dir_name: "context".into(),
        includes: includes.iter().map(|s| s.to_string()).collect(),
        excludes: excludes.iter().map(|s| s.to_string()).collect(),
        follow: follow.iter().map(|s| s.to_string()).collect(),
    };
    let picked = |a: Asked| -> Vec<String> {
        select(&all, &a)
            .unwrap()
            .into_iter()
            .map(|e| e.name)
            .collect()
    };
    assert_eq!(picked(asked(&[], &[], &[])).len(), all.len());
    assert_eq!(picked(asked(&[], &[], &["Dockerfile"])), ["Dockerfile"]);
    assert_eq!(
        picked(asked(&["docs/keep/a.md"], &[], &[])),
        ["docs", "docs/keep", "docs/keep/a.md"]
    );
    assert_eq!(
        picked(asked(&[], &["docs", "!docs/keep/a.md", "**/*.log"], &[])),
        [
            "Dockerfile",
            "docs",
            "docs/keep",
            "docs/keep/a.md",
            "src",
            "src/main.rs"
        ]
    );
    assert!(select(&all, &asked(&[], &["[z-a"], &[])).is_err());
}

/// A context on disk: a folder, an empty folder, a link, an executable, a file of many chunks.
fn context(root: &Path) -> SyncedDirs {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(root.join("app/empty")).unwrap();
    std::fs::write(root.join("app/run.sh"), "#!/bin/sh\necho hi\n").unwrap();
    std::fs::set_permissions(
        root.join("app/run.sh"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    let big: Vec<u8> = (0..(3 * CHUNK + 17)).map(|i| (i % 251) as u8).collect();
    std::fs::write(root.join("big.bin"), &big).unwrap();
    std::os::unix::fs::symlink("app/run.sh", root.join("link")).unwrap();
    std::fs::write(root.join("empty.txt"), "").unwrap();
    let names = [
        "app",
        "app/empty",
        "app/run.sh",
        "big.bin",
        "link",
        "empty.txt",
    ];
    SyncedDirs::default().with("context", names.map(|n| (n.to_string(), root.join(n))))
}

/// Serves `dirs` on a local port; a client to it.
async fn serve(dirs: SyncedDirs) -> FileSyncClient<tonic::transport::Channel> {
    let incoming =
        tonic::transport::server::TcpIncoming::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let address = incoming.local_addr().unwrap();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(FileSyncServer::new(dirs))
            .serve_with_incoming(incoming),
    );
    FileSyncClient::connect(format!("http://{address}"))
        .await
        .unwrap()
}

/// What the receiver got: the STATs in order and each file's bytes by path.
struct Received {
    stats: Vec<Stat>,
    files: HashMap<String, Vec<u8>>,
}

/// BuildKit's receiver, as far as the exchange goes.
async fn receive(
    client: &mut FileSyncClient<tonic::transport::Channel>,
    headers: &[(&'static str, &str)],
) -> Result<Received, tonic::Status> {
    let (tx, rx) = mpsc::channel::<Packet>(64);
    let outgoing =
        futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|p| (p, rx)) });
    let mut request = tonic::Request::new(outgoing);
    for (key, value) in headers {
        request.metadata_mut().append(*key, value.parse().unwrap());
    }
    let mut inbound = client.diff_copy(request).await?.into_inner();
    let mut stats = Vec::new();
    loop {
        let p = inbound.message().await?.expect("a STAT");
        assert_eq!(p.r#type, PacketType::PacketStat as i32, "{p:?}");
        match p.stat {
            Some(stat) => stats.push(stat),
            None => break,
        }
    }
    let mut wanted: HashMap<u32, String> = HashMap::new();
    for (index, stat) in stats.iter().enumerate() {
        if stat.mode & (0b1111_1111 << 24) == 0 && stat.mode & (1 << 19) == 0 {
            let id = index as u32;
            wanted.insert(id, stat.path.clone());
            tx.send(packet_req(id)).await.unwrap();
        }
    }
    let mut files: HashMap<String, Vec<u8>> = HashMap::new();
    let mut open = wanted.len();
    while open > 0 {
        let p = inbound.message().await?.expect("DATA");
        assert_eq!(p.r#type, PacketType::PacketData as i32, "{p:?}");
        let path = wanted.get(&p.id).expect("an id that was asked for");
        if p.data.is_empty() {
            open -= 1;
        }
        files.entry(path.clone()).or_default().extend(p.data);
    }
    tx.send(packet(PacketType::PacketFin)).await.unwrap();
    let fin = inbound.message().await?.expect("FIN");
    assert_eq!(fin.r#type, PacketType::PacketFin as i32);
    assert!(
        inbound.message().await?.is_none(),
        "the stream ends after FIN"
    );
    Ok(Received { stats, files })
}

fn packet_req(id: u32) -> Packet {
    Packet {
        id,
        ..packet(PacketType::PacketReq)
    }
}

#[tokio::test]
async fn stats_in_order_then_every_asked_file_in_data_packets_then_fin() {
    let dir = tempfile::tempdir().unwrap();
    let mut client = serve(context(dir.path())).await;
    let got = receive(&mut client, &[("dir-name", "context")])
        .await
        .unwrap();
    let paths: Vec<&str> = got.stats.iter().map(|s| s.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "app",
            "app/empty",
            "app/run.sh",
            "big.bin",
            "empty.txt",
            "link"
        ]
    );
    let by_path: HashMap<&str, &Stat> = got.stats.iter().map(|s| (s.path.as_str(), s)).collect();
    assert_ne!(by_path["app"].mode & (1 << 31), 0, "a folder");
    assert_eq!(by_path["app/run.sh"].mode, 0o755);
    assert_eq!(by_path["link"].mode & (1 << 27), 1 << 27);
    assert_eq!(by_path["link"].linkname, "app/run.sh");
    assert_eq!(by_path["big.bin"].size, (3 * CHUNK + 17) as i64);
    assert!(got.stats.iter().all(|s| s.uid == 0 && s.gid == 0));
    assert!(
        by_path["big.bin"].mod_time > 1_000_000_000_000_000_000,
        "nanoseconds"
    );
    assert_eq!(
        got.files.len(),
        3,
        "regular files only: {:?}",
        got.files.keys()
    );
    assert_eq!(
        got.files["big.bin"],
        std::fs::read(dir.path().join("big.bin")).unwrap()
    );
    assert_eq!(got.files["app/run.sh"], b"#!/bin/sh\necho hi\n");
    assert_eq!(got.files["empty.txt"], b"");
}

#[tokio::test]
async fn the_daemon_s_patterns_narrow_what_is_sent() {
    let dir = tempfile::tempdir().unwrap();
    let mut client = serve(context(dir.path())).await;
    let got = receive(
        &mut client,
        &[
            ("dir-name", "context"),
            ("exclude-patterns", "*.bin"),
            ("exclude-patterns", "app"),
            ("exclude-patterns", "!app/run.sh"),
        ],
    )
    .await
    .unwrap();
    let paths: Vec<&str> = got.stats.iter().map(|s| s.path.as_str()).collect();
    assert_eq!(paths, ["app", "app/run.sh", "empty.txt", "link"]);

    let got = receive(
        &mut client,
        &[("dir-name", "context"), ("followpaths", "big.bin")],
    )
    .await
    .unwrap();
    let paths: Vec<&str> = got.stats.iter().map(|s| s.path.as_str()).collect();
    assert_eq!(paths, ["big.bin"]);

    // Non-ASCII values come URL-escaped, flagged by `<key>-encoded`.
    let got = receive(
        &mut client,
        &[
            ("dir-name", "context"),
            ("include-patterns", "app%2Frun.sh"),
            ("include-patterns-encoded", "1"),
        ],
    )
    .await
    .unwrap();
    let paths: Vec<&str> = got.stats.iter().map(|s| s.path.as_str()).collect();
    assert_eq!(paths, ["app", "app/run.sh"]);
}

#[tokio::test]
async fn a_folder_not_offered_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut client = serve(context(dir.path())).await;
    let refused = receive(&mut client, &[("dir-name", "secrets")])
        .await
        .err()
        .unwrap();
    assert_eq!(refused.code(), tonic::Code::NotFound, "{refused:?}");
}

#[tokio::test]
async fn a_request_for_a_folder_s_id_fails_the_exchange() {
    let dir = tempfile::tempdir().unwrap();
    let mut client = serve(context(dir.path())).await;
    let (tx, rx) = mpsc::channel::<Packet>(8);
    let outgoing =
        futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|p| (p, rx)) });
    let mut request = tonic::Request::new(outgoing);
    request
        .metadata_mut()
        .append("dir-name", "context".parse().unwrap());
    let mut inbound = client.diff_copy(request).await.unwrap().into_inner();
    // Index 0 is the folder `app`: it has no bytes to ask for.
    tx.send(packet_req(0)).await.unwrap();
    let mut error = None;
    while let Ok(Some(p)) = inbound.message().await {
        if p.r#type == PacketType::PacketErr as i32 {
            error = Some(String::from_utf8_lossy(&p.data).into_owned());
        }
    }
    let error = error.expect("an ERR packet");
    assert!(error.contains("unknown file id 0"), "{error}");
}
