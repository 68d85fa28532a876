//! A deliberately hostile `thumbnailer` component. The host's limit tests load it in place of
//! the real thumbnail guest and pick its misbehaviour with the input bytes, proving that each
//! sandbox limit stops it with its own error code and that the host carries on afterwards.
//!
//! | input        | behaviour                                   | expected host error   |
//! |--------------|---------------------------------------------|-----------------------|
//! | `spin`       | loops forever                               | `guest-timeout`       |
//! | `alloc`      | allocates and touches memory without bound  | `guest-memory-limit`  |
//! | `recurse`    | recurses without bound                      | `guest-stack-overflow`|
//! | `big-output:N` | returns N bytes of output                 | `output-too-large`    |
//! | `panic`      | panics (a trap)                             | `guest-trap`          |
//! | anything else| echoes the input as one variant             | success               |

wit_bindgen::generate!({ world: "thumbnailer", path: "../../wit" });

use attach::media::types::{Limits, MediaError};
use exports::attach::media::thumbnail::{Format, Guest, Rendered, Thumbnails, VariantSpec};
use std::hint::black_box;

struct Component;

impl Guest for Component {
    fn render(
        data: Vec<u8>,
        _specs: Vec<VariantSpec>,
        _limits: Limits,
    ) -> Result<Thumbnails, MediaError> {
        let out = match data.as_slice() {
            b"spin" => spin(),
            b"alloc" => alloc(),
            b"recurse" => {
                let depth = recurse(black_box(0));
                vec![depth as u8]
            }
            b"panic" => panic!("hostile guest panics on purpose"),
            other => match other.strip_prefix(b"big-output:") {
                Some(n) => {
                    let n: usize = std::str::from_utf8(n)
                        .ok()
                        .and_then(|s| s.parse().ok())
                        .unwrap_or(0);
                    vec![0xAB; n]
                }
                None => other.to_vec(),
            },
        };
        Ok(Thumbnails {
            variants: vec![Rendered {
                name: "echo".into(),
                format: Format::Png,
                width: 1,
                height: 1,
                data: out,
            }],
            placeholder: String::new(),
        })
    }
}

fn spin() -> Vec<u8> {
    let mut x: u64 = 1;
    loop {
        x = black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
        if black_box(x) == 0 {
            return vec![];
        }
    }
}

fn alloc() -> Vec<u8> {
    let mut hoard: Vec<Vec<u8>> = Vec::new();
    loop {
        // Touch every page so the growth is real, not just reserved.
        hoard.push(black_box(vec![0x5A; 16 * 1024 * 1024]));
        if black_box(hoard.len()) == usize::MAX {
            return vec![];
        }
    }
}

// Unbounded on purpose: the host's stack cap must stop it.
#[allow(unconditional_recursion)]
#[inline(never)]
fn recurse(depth: u64) -> u64 {
    // black_box on the returned value keeps LLVM from turning this into a loop (it would
    // otherwise accumulate the additions). Each frame is mostly on the wasm stack, with only
    // a few bytes on Rust's shadow stack in linear memory, so the host's wasm stack cap is
    // what stops it.
    black_box(recurse(black_box(depth.wrapping_add(1)))).wrapping_add(depth)
}

export!(Component);
