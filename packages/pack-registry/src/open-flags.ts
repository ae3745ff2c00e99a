import { constants } from "node:fs";

/**
 * open(2) flags for reading a file the caller does not own: no link followed, and a FIFO swapped in
 * cannot block the process in open().
 */
export const NO_FOLLOW_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

/**
 * open(2) flags for every file written into a fresh work directory (extraction, local copies):
 * created new or not at all, never through a link.
 */
export const CREATE_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
