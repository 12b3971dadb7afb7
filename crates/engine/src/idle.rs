//! Idle processes (a container's shim, the API daemon) give back the memory their past work
//! touched, so what stays resident is what an idle loop needs.

/// Gives back the memory start-up and past work needed: freed heap goes back to the kernel, the
/// dead part of the main thread's stack is dropped, and so are the resident pages of clean file
/// mappings (code and constant data); MADV_RANDOM turns off fault-around so what is touched
/// later maps back page by page, not 64 KiB at a time. Call it on the main thread (elsewhere
/// the stack is left alone), when the process has been idle a while, right before it blocks.
pub fn shrink_to_idle() {
    // SAFETY: getpid/gettid have no preconditions.
    let on_main_thread =
        unsafe { libc::getpid() as libc::c_long == libc::syscall(libc::SYS_gettid) };
    let marker = 0u8;
    let sp = std::ptr::addr_of!(marker) as usize;
    let relro = relro_range();
    let exe = std::fs::read_link("/proc/self/exe").ok();
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap_or_default();
    // (start, length, advice): DONTNEED for clean mappings, PAGEOUT where clean and written
    // pages mix (RELRO): reclaim takes the clean ones and, without swap, leaves the written ones.
    let mut ranges: Vec<(usize, usize, libc::c_int)> = Vec::with_capacity(16);
    for line in maps.lines() {
        let mut f = line.split_whitespace();
        let (Some(range), Some(perms)) = (f.next(), f.next()) else {
            continue;
        };
        let path = f.nth(3).unwrap_or("");
        let Some((a, b)) = range.split_once('-') else {
            continue;
        };
        let (Ok(a), Ok(b)) = (usize::from_str_radix(a, 16), usize::from_str_radix(b, 16)) else {
            continue;
        };
        if path == "[stack]" {
            if !on_main_thread {
                continue;
            }
            let end = sp.saturating_sub(16 * 1024) & !4095;
            if end > a {
                ranges.push((a, end - a, libc::MADV_DONTNEED));
            }
            continue;
        }
        if !path.starts_with('/') || perms.contains('w') {
            continue;
        }
        // Clean pages only, which the kernel re-reads from the page cache on the next touch.
        // Never RELRO data (a GOT is written by the loader before it becomes read-only): of our
        // executable we know where RELRO is; of libraries we take only code.
        let ours = exe.as_deref().is_some_and(|e| e.as_os_str() == path);
        let clean = if ours {
            !relro.is_some_and(|(x, y)| a < y && x < b)
        } else {
            perms == "r-xp"
        };
        ranges.push((
            a,
            b - a,
            if clean {
                libc::MADV_DONTNEED
            } else {
                libc::MADV_PAGEOUT
            },
        ));
    }
    drop(maps);
    // SAFETY: malloc_trim only releases free heap memory.
    unsafe { libc::malloc_trim(0) };
    // One tight loop at the end, so little code is touched again after the pages are dropped.
    for (a, len, advice) in ranges {
        // SAFETY: read-only private file mappings (DONTNEED only where every page is clean), or
        // stack pages strictly below the live part of our own stack.
        unsafe {
            libc::madvise(a as *mut libc::c_void, len, libc::MADV_RANDOM);
            libc::madvise(a as *mut libc::c_void, len, advice);
        }
    }
}

/// The page-aligned address range of the executable's PT_GNU_RELRO segment.
fn relro_range() -> Option<(usize, usize)> {
    // SAFETY: getauxval reads the auxiliary vector; AT_PHDR points at our program headers,
    // AT_PHNUM entries long, mapped for the life of the process.
    unsafe {
        let phdr = libc::getauxval(libc::AT_PHDR) as *const libc::Elf64_Phdr;
        let n = libc::getauxval(libc::AT_PHNUM) as usize;
        if phdr.is_null() {
            return None;
        }
        let hdrs = std::slice::from_raw_parts(phdr, n);
        let bias = hdrs
            .iter()
            .find(|h| h.p_type == libc::PT_PHDR)
            .map(|h| phdr as usize - h.p_vaddr as usize)
            .unwrap_or(0);
        hdrs.iter()
            .find(|h| h.p_type == libc::PT_GNU_RELRO)
            .map(|h| {
                let start = (bias + h.p_vaddr as usize) & !4095;
                let end = (bias + (h.p_vaddr + h.p_memsz) as usize + 4095) & !4095;
                (start, end)
            })
    }
}
