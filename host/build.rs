// `sqlx::migrate!` embeds the migrations at compile time but tells cargo only about the files
// it read, so a new migration file would go unnoticed until something else changed.
fn main() {
    println!("cargo:rerun-if-changed=../migrations");
}
