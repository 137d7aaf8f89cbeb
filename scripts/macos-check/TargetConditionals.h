/* The one macOS SDK header ring's C includes, for `cargo check --target x86_64-apple-darwin`
 * on Linux (no SDK here). The check compiles, never links: these values only pick ring's
 * code paths for an x86_64 Mac. */
#pragma once
#define TARGET_OS_MAC 1
#define TARGET_OS_OSX 1
#define TARGET_OS_IPHONE 0
#define TARGET_OS_IOS 0
#define TARGET_OS_SIMULATOR 0
