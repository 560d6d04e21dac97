//! The symmetric heap: shared-memory segments, the layout of a segment, and the deterministic allocator.

pub mod allocator;
pub mod layout;
pub mod node;
pub mod segment;

pub use allocator::Allocator;
pub use layout::HeapLayout;
pub use node::NodeSegments;
pub use segment::{kernel_collapses_shmem, node_id, Segment, HUGE_PAGE_BYTES, MAX_HEAP_ALIGN};
