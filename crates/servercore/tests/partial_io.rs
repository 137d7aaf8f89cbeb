//! Partial sends: a 4 MiB message through small socket buffers comes back intact.

mod util;

use std::io::Write;
use std::net::TcpStream;

use servercore::Model;
use socket2::{Domain, Socket, Type};
use util::*;

fn four_mib_through_small_buffers(model: Model) {
    let (service, _) = echo_server(config(model));
    // Small client buffers (set before connect, so the window is small from the start) force
    // the server into partial writes and EAGAIN on most flushes.
    let sock = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    sock.set_recv_buffer_size(16 * 1024).unwrap();
    sock.set_send_buffer_size(16 * 1024).unwrap();
    sock.set_nodelay(true).unwrap();
    sock.connect(&addr(&service).into()).unwrap();
    let stream: TcpStream = sock.into();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    let data = pattern(42, 4 * 1024 * 1024);
    let mut writer: TcpStream = stream.try_clone().unwrap();
    let to_send = data.clone();
    let sender = std::thread::spawn(move || writer.write_all(&to_send));
    let mut reader = stream;
    let echoed = read_n(&mut reader, data.len()).expect("read 4 MiB echo");
    sender.join().unwrap().expect("write 4 MiB");
    assert!(echoed == data, "4 MiB echo differs");
    drop(reader);
    assert_live(&service, 0);
}

one_model!(four_mib_message, four_mib_through_small_buffers);
