//! The smallest ScopeHold task: needs no secret, prints its arguments.

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    println!("hello from a ScopeHold task");
    if !args.is_empty() {
        println!("args: {}", args.join(" "));
    }
}
