// A view is returned through its instance's single-producer refill ring:
// it cannot go to another thread (`into_shared` makes a handle that can).
fn send(buf: zcrx_ring::Buf<'static>) {
    std::thread::spawn(move || drop(buf));
}

fn main() {}
