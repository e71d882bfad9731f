pub mod groups;
pub mod key_configure;
pub mod key_new;
pub mod keys;
pub mod layout;
pub mod login;
