/** Node's own flags in telegraf.conf's command (a test holds the two to each other): the bench runs the processor as shipped. */
export const NODE_FLAGS = ['--max-semi-space-size=4'];
