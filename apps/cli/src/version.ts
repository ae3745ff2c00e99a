// Kept in sync with package.json by a test (reading package.json at start-up would cost a file read).
export const VERSION = "0.1.0";
