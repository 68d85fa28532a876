/// Input limits, checked against what the headers claim before anything is decoded.
/// The host owns the defaults (config) and passes them into every guest call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest canvas, in pixels (width × height).
    pub max_pixels: u64,
    /// Most frames in an animation.
    pub max_frames: u32,
    /// Largest sum of all frames' areas, in pixels: bounds the work of walking an animation.
    pub max_total_frame_area: u64,
    /// Largest encoded output of one call, in bytes.
    pub max_output_bytes: u64,
}

impl Limits {
    /// 50 MP covers every phone and most DSLR photos (a 45 MP Nikon Z7 is 8256×5504) while
    /// keeping a full RGBA decode under 200 MB.
    pub const DEFAULT_MAX_PIXELS: u64 = 50_000_000;
    /// Animated stickers and GIFs rarely exceed a few hundred frames; 1000 leaves room for
    /// long screen recordings while bounding per-frame overhead.
    pub const DEFAULT_MAX_FRAMES: u32 = 1_000;
    /// Four full 50 MP frames' worth of pixels, so a long animation of small frames passes
    /// while 20,000 frames of a big canvas do not.
    pub const DEFAULT_MAX_TOTAL_FRAME_AREA: u64 = 200_000_000;
    /// Variants are thumbnails and previews; 32 MB is far above any sane one.
    pub const DEFAULT_MAX_OUTPUT_BYTES: u64 = 32 * 1024 * 1024;

    /// No limit at all, for reading the headers of data whose claims were already checked
    /// (or that is never decoded): [`image_end`](crate::image_end) and the scan's metadata
    /// rule. A walk is still bounded by the data's length and the walkers' own constants.
    pub const UNLIMITED: Limits = Limits {
        max_pixels: u64::MAX,
        max_frames: u32::MAX,
        max_total_frame_area: u64::MAX,
        max_output_bytes: u64::MAX,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_pixels: Self::DEFAULT_MAX_PIXELS,
            max_frames: Self::DEFAULT_MAX_FRAMES,
            max_total_frame_area: Self::DEFAULT_MAX_TOTAL_FRAME_AREA,
            max_output_bytes: Self::DEFAULT_MAX_OUTPUT_BYTES,
        }
    }
}
