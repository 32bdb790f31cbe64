//! The benchmarks' charts: an SVG drawn by plotters, made a PNG (only with the `bench` feature).

use std::path::Path;

/// Renders `svg` into the PNG file `png`.
pub fn svg_to_png(svg: &str, png: &Path) -> Result<(), String> {
    let mut opts = resvg::usvg::Options::default();
    let fonts = opts.fontdb_mut();
    fonts.load_system_fonts();
    // fontdb maps `sans-serif` to Arial; Debian has DejaVu (package fonts-dejavu-core).
    fonts.set_sans_serif_family("DejaVu Sans");
    let tree = resvg::usvg::Tree::from_str(svg, &opts).map_err(|e| e.to_string())?;
    let size = tree.size().to_int_size();
    let mut pixmap = resvg::tiny_skia::Pixmap::new(size.width(), size.height()).ok_or("empty chart")?;
    resvg::render(&tree, resvg::tiny_skia::Transform::default(), &mut pixmap.as_mut());
    pixmap.save_png(png).map_err(|e| e.to_string())
}
