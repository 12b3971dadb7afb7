//! Passing a descriptor with a message over a unix socket (SCM_RIGHTS).

use std::os::fd::{FromRawFd, OwnedFd, RawFd};

/// Sends `data` (at least one byte) and, optionally, a descriptor.
pub fn send(sock: RawFd, data: &[u8], fd: Option<RawFd>) -> std::io::Result<()> {
    // SAFETY: sendmsg from local buffers; the control buffer is sized for one descriptor.
    unsafe {
        let mut iov = libc::iovec {
            iov_base: data.as_ptr() as *mut libc::c_void,
            iov_len: data.len(),
        };
        let mut cbuf = [0u64; 4];
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        if let Some(fd) = fd {
            msg.msg_control = cbuf.as_mut_ptr().cast();
            msg.msg_controllen = libc::CMSG_SPACE(std::mem::size_of::<i32>() as u32) as usize;
            let cm = libc::CMSG_FIRSTHDR(&msg);
            (*cm).cmsg_level = libc::SOL_SOCKET;
            (*cm).cmsg_type = libc::SCM_RIGHTS;
            (*cm).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<i32>() as u32) as usize;
            std::ptr::write_unaligned(libc::CMSG_DATA(cm) as *mut i32, fd);
        }
        if libc::sendmsg(sock, &msg, libc::MSG_NOSIGNAL) < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Receives one message (up to 8 KiB) and the descriptor sent with it, if any. `wait`: block
/// until a message arrives.
pub fn recv(sock: RawFd, wait: bool) -> std::io::Result<(Vec<u8>, Option<OwnedFd>)> {
    let mut data = vec![0u8; 8 * 1024];
    // SAFETY: recvmsg into local buffers; a received descriptor is new and ours.
    unsafe {
        let mut iov = libc::iovec {
            iov_base: data.as_mut_ptr().cast(),
            iov_len: data.len(),
        };
        let mut cbuf = [0u64; 4];
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = cbuf.as_mut_ptr().cast();
        msg.msg_controllen = std::mem::size_of_val(&cbuf);
        let flags = libc::MSG_CMSG_CLOEXEC | if wait { 0 } else { libc::MSG_DONTWAIT };
        let n = loop {
            let n = libc::recvmsg(sock, &mut msg, flags);
            if n >= 0 || std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
                break n;
            }
        };
        if n < 0 {
            return Err(std::io::Error::last_os_error());
        }
        data.truncate(n as usize);
        let cm = libc::CMSG_FIRSTHDR(&msg);
        let fd = if !cm.is_null() && (*cm).cmsg_type == libc::SCM_RIGHTS {
            Some(OwnedFd::from_raw_fd(std::ptr::read_unaligned(
                libc::CMSG_DATA(cm) as *const i32,
            )))
        } else {
            None
        };
        Ok((data, fd))
    }
}
