/**
 * Node's own flags in the shipped command line (telegraf.conf), which a test holds to this list. The
 * benchmark and the tests launch the processor with them, so they measure and check what is shipped.
 */
export const NODE_FLAGS = ['--max-semi-space-size=4'];
