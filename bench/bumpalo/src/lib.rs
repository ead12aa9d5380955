//! bumpalo behind a C interface, for the allocator bench (alloc_bumpalo.c).
//!
//! The request loops are here, in Rust, so that `Bump::alloc_layout` is
//! inlined into them as it is in a Rust program, just as lexrt's fast path
//! is inlined into the C loop: the comparison is allocator against
//! allocator, not an inlined bump against a cross-language call. They
//! write each block exactly as workload.h's lxb_touch does. `lxb_bump_alloc`
//! is the same allocation as a call, for the "bumpalo-ffi" row.

use bumpalo::Bump;
use core::alloc::Layout;
use core::ptr;

const ALIGN: usize = 16; // LXB_ALIGN

#[no_mangle]
pub extern "C" fn lxb_bump_new() -> *mut Bump {
    Box::into_raw(Box::new(Bump::new()))
}

/// # Safety
/// `b` comes from `lxb_bump_new` and is not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn lxb_bump_free(b: *mut Bump) {
    drop(Box::from_raw(b));
}

/// # Safety
/// `b` comes from `lxb_bump_new`; every pointer it gave out dies here.
#[no_mangle]
pub unsafe extern "C" fn lxb_bump_reset(b: *mut Bump) {
    (*b).reset();
}

#[inline(always)]
unsafe fn alloc(b: &Bump, n: usize) -> *mut u8 {
    // Aborts on out-of-memory (panic = "abort"): failure is not measured.
    b.alloc_layout(Layout::from_size_align_unchecked(n, ALIGN)).as_ptr()
}

/// # Safety
/// `b` comes from `lxb_bump_new`.
#[no_mangle]
pub unsafe extern "C" fn lxb_bump_alloc(b: *mut Bump, n: usize) -> *mut u8 {
    alloc(&*b, n)
}

/// The light workload's request: first and last byte of each block.
///
/// # Safety
/// `b` comes from `lxb_bump_new`; `sizes` holds `n` sizes, none 0.
#[no_mangle]
pub unsafe extern "C" fn lxb_bump_request_ends(b: *mut Bump, sizes: *const u32, n: usize) {
    {
        let bump = &*b;
        for i in 0..n {
            let len = *sizes.add(i) as usize;
            let p = alloc(bump, len);
            // Volatile: a plain store that the compiler may not drop.
            ptr::write_volatile(p, 0);
            ptr::write_volatile(p.add(len - 1), 1);
        }
    }
    (*b).reset();
}

/// The heavy workload's request: one byte per 64-byte line and the last
/// byte, or the whole block when `full` is not 0 (LXB_TOUCH=full).
///
/// # Safety
/// As for `lxb_bump_request_ends`.
#[no_mangle]
pub unsafe extern "C" fn lxb_bump_request_lines(b: *mut Bump, sizes: *const u32, n: usize, full: i32) {
    {
        let bump = &*b;
        for i in 0..n {
            let len = *sizes.add(i) as usize;
            let p = alloc(bump, len);
            if full != 0 {
                ptr::write_bytes(p, 0xa5, len);
                ptr::read_volatile(p); // keeps the memset
            } else {
                let mut j = 0;
                while j < len {
                    ptr::write_volatile(p.add(j), j as u8);
                    j += 64;
                }
            }
            ptr::write_volatile(p.add(len - 1), 1);
        }
    }
    (*b).reset();
}
