// TAILMASK sets mask register k to the low n bits (n < 16): the lanes of a
// vector loop's last, partial step. tmp is a scratch register.
#define TAILMASK(n, tmp, k) MOVL $1, tmp; SHLL n, tmp; DECL tmp; KMOVW tmp, k
