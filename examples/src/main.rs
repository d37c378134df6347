//! The `uacce` command-line tool.

fn main() {
    // replaced by the real CLI in the compression issue
    match uacce::discovery::scan_default() {
        Ok(scan) => println!("{:?}", scan.devices),
        Err(e) => eprintln!("{e}"),
    }
}
