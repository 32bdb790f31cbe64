//! A heap profile of a whole run, for `make bench HEAP_PROFILE=1` (cargo feature `dhat-heap`;
//! without it every function here does nothing). The profile is written when the stop is asked,
//! before the shutdown drops the caches, so its "at the end" figures are what a running operator
//! holds, by allocation site.

#[cfg(feature = "dhat-heap")]
#[global_allocator]
static ALLOCATOR: dhat::Alloc = dhat::Alloc;

#[cfg(feature = "dhat-heap")]
static PROFILER: std::sync::Mutex<Option<dhat::Profiler>> = std::sync::Mutex::new(None);

/// The file the profile goes to: `FRAMASPACE_HEAP_PROFILE`, or `dhat-heap.json` in the working directory.
#[cfg(feature = "dhat-heap")]
const FILE_VARIABLE: &str = "FRAMASPACE_HEAP_PROFILE";

/// Starts recording every allocation.
pub fn start() {
    #[cfg(feature = "dhat-heap")]
    {
        let file = std::env::var_os(FILE_VARIABLE).unwrap_or_else(|| "dhat-heap.json".into());
        let profiler = dhat::Profiler::builder().file_name(file).trim_backtraces(Some(96)).build();
        if let Ok(mut slot) = PROFILER.lock() {
            *slot = Some(profiler);
        }
    }
}

/// Writes the profile (once; later calls do nothing).
pub fn finish() {
    #[cfg(feature = "dhat-heap")]
    {
        let profiler = PROFILER.lock().ok().and_then(|mut slot| slot.take());
        drop(profiler);
    }
}
