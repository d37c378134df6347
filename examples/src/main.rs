//! The `uacce` command-line tool.

fn main() {
    // replaced by the real CLI in the compression issue
    let devices = uacce::discovery::list_default();
    println!("{devices:?}");
}
