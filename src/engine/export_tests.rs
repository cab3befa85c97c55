use std::io::Read;

use futures_util::stream;

use super::*;

/// A layer tar holding one file.
fn layer_tar(name: &str, content: &[u8]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_ustar();
    header.set_size(content.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    builder.append_data(&mut header, name, content).unwrap();
    builder.into_inner().unwrap()
}

/// An archive of `entries`: (path, bytes) files, or (path, "->target") links.
fn archive(entries: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, bytes) in entries {
        let mut header = tar::Header::new_ustar();
        if let Some(target) = bytes.strip_prefix(b"->") {
            header.set_entry_type(tar::EntryType::Symlink);
            header.set_size(0);
            builder
                .append_link(&mut header, path, std::str::from_utf8(target).unwrap())
                .unwrap();
        } else {
            header.set_size(bytes.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            builder.append_data(&mut header, path, &bytes[..]).unwrap();
        }
    }
    builder.into_inner().unwrap()
}

async fn read_archive(bytes: Vec<u8>, dir: &Path) -> Result<Exported, ExportError> {
    // Small chunks, as the daemon's stream arrives.
    let chunks: Vec<Result<bytes::Bytes, io::Error>> = bytes
        .chunks(1000)
        .map(|c| Ok(bytes::Bytes::copy_from_slice(c)))
        .collect();
    let (ready, mut done) = tokio::sync::mpsc::unbounded_channel();
    let exported = read(stream::iter(chunks), dir, 2, ready).await?;
    // Every layer was announced as soon as it was compressed.
    let mut announced = Vec::new();
    while let Ok(layer) = done.try_recv() {
        announced.push(layer.blob);
    }
    for layer in &exported.layers {
        assert!(announced.contains(&layer.blob), "{layer:?} not announced");
    }
    Ok(exported)
}

fn gunzip(path: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(std::fs::File::open(path).unwrap())
        .read_to_end(&mut out)
        .unwrap();
    out
}

#[tokio::test]
async fn the_legacy_layout_with_a_linked_layer_and_an_empty_one() {
    let (one, two) = (layer_tar("a", b"first"), layer_tar("b", b"second"));
    // An empty layer is the end-of-archive blocks alone: it has no header to recognise.
    let empty = vec![0u8; 1024];
    let config = br#"{"architecture":"amd64","rootfs":{"diff_ids":[]}}"#.to_vec();
    let manifest = br#"[{"Config":"cfg.json","RepoTags":null,"Layers":["l1/layer.tar","l2/layer.tar","l3/layer.tar","l4/layer.tar"]}]"#;
    let bytes = archive(&[
        ("l1/layer.tar", one.clone()),
        ("l1/VERSION", b"1.0".to_vec()),
        ("l2/layer.tar", two.clone()),
        ("l3/layer.tar", empty.clone()),
        ("l4/layer.tar", b"->../l1/layer.tar".to_vec()),
        ("cfg.json", config.clone()),
        ("manifest.json", manifest.to_vec()),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let exported = read_archive(bytes.clone(), dir.path()).await.unwrap();
    assert_eq!(exported.config, config);
    let contents: Vec<Vec<u8>> = exported.layers.iter().map(|l| gunzip(&l.path)).collect();
    assert_eq!(contents, vec![one.clone(), two, empty, one]);
    for layer in &exported.layers {
        let blob = std::fs::read(&layer.path).unwrap();
        assert_eq!(layer.blob, Descriptor::of(&blob));
    }
    assert_eq!(exported.layers[0].blob, exported.layers[3].blob);
    assert_eq!(
        exported.uncompressed,
        exported
            .layers
            .iter()
            .map(|l| gunzip(&l.path).len() as u64)
            .sum::<u64>()
    );

    // The same layers give the same blobs on another run.
    let again = tempfile::tempdir().unwrap();
    let second = read_archive(bytes, again.path()).await.unwrap();
    let digests = |e: &Exported| e.layers.iter().map(|l| l.blob.clone()).collect::<Vec<_>>();
    assert_eq!(digests(&exported), digests(&second));
}

#[tokio::test]
async fn the_oci_layout_of_newer_daemons() {
    let layer = layer_tar("etc/hello", b"hello");
    let config = br#"{"rootfs":{}}"#.to_vec();
    let manifest =
        br#"[{"Config":"blobs/sha256/c0","RepoTags":["x:1"],"Layers":["blobs/sha256/l0"]}]"#;
    let bytes = archive(&[
        ("blobs/sha256/l0", layer.clone()),
        ("blobs/sha256/c0", config.clone()),
        ("index.json", b"{}".to_vec()),
        ("oci-layout", b"{}".to_vec()),
        ("manifest.json", manifest.to_vec()),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let exported = read_archive(bytes, dir.path()).await.unwrap();
    assert_eq!(exported.config, config);
    assert_eq!(exported.layers.len(), 1);
    assert_eq!(gunzip(&exported.layers[0].path), layer);
}

#[tokio::test]
async fn what_it_cannot_read_is_said() {
    let dir = tempfile::tempdir().unwrap();
    let no_manifest = archive(&[("l1/layer.tar", layer_tar("a", b"x"))]);
    let e = read_archive(no_manifest, dir.path()).await.unwrap_err();
    assert!(e.to_string().contains("no manifest.json"), "{e}");

    let missing = archive(&[(
        "manifest.json",
        br#"[{"Config":"c.json","Layers":["gone/layer.tar"]}]"#.to_vec(),
    )]);
    let e = read_archive(missing, dir.path()).await.unwrap_err();
    assert!(e.to_string().contains("gone/layer.tar is missing"), "{e}");

    let gzipped = archive(&[
        ("blobs/sha256/l0", vec![0x1f, 0x8b, 8, 0, 0, 0]),
        ("c.json", b"{}".to_vec()),
        (
            "manifest.json",
            br#"[{"Config":"c.json","Layers":["blobs/sha256/l0"]}]"#.to_vec(),
        ),
    ]);
    let e = read_archive(gzipped, dir.path()).await.unwrap_err();
    assert!(e.to_string().contains("already compressed"), "{e}");

    let two = archive(&[(
        "manifest.json",
        br#"[{"Config":"a","Layers":[]},{"Config":"b","Layers":[]}]"#.to_vec(),
    )]);
    let e = read_archive(two, dir.path()).await.unwrap_err();
    assert!(e.to_string().contains("names 2 images"), "{e}");
}

#[test]
fn links_resolve_against_their_folder() {
    assert_eq!(resolve("a/layer.tar", "../b/layer.tar"), "b/layer.tar");
    assert_eq!(resolve("layer.tar", "./b"), "b");
    assert_eq!(resolve("x/y/z", "../../w"), "w");
}
