//! An image archive as `docker load` reads it, holding only a new config and the one new layer:
//! the base's layers are already in the daemon (pulled by digest), so their entries name files
//! the archive need not carry. Loading this instead of `create` + `cp` + `commit` keeps the
//! image exactly the one written to the registry (no clock, no container id in the config).

use std::io::{BufWriter, Write};
use std::path::Path;

use serde_json::json;

pub fn write_archive(
    path: &Path,
    name: &str,
    config: &[u8],
    base_layers: usize,
    layer: Option<&Path>,
) -> std::io::Result<()> {
    let mut layers: Vec<String> = (0..base_layers).map(|i| format!("base/{i}.tar")).collect();
    if layer.is_some() {
        layers.push("layer.tar".into());
    }
    let manifest = json!([{ "Config": "config.json", "RepoTags": [name], "Layers": layers }]);
    let mut builder = tar::Builder::new(BufWriter::new(std::fs::File::create(path)?));
    let add = |builder: &mut tar::Builder<_>, entry: &str, bytes: &[u8]| {
        let mut header = tar::Header::new_gnu();
        header.set_mode(0o644);
        header.set_size(bytes.len() as u64);
        builder.append_data(&mut header, entry, bytes)
    };
    add(
        &mut builder,
        "manifest.json",
        &serde_json::to_vec(&manifest)?,
    )?;
    add(&mut builder, "config.json", config)?;
    if let Some(layer) = layer {
        builder.append_path_with_name(layer, "layer.tar")?;
    }
    builder.into_inner()?.flush()
}
