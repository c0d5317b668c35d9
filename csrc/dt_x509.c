/*
 * Certificate facts the scanner grades a server's certificate on (scan/verdicts.py): the
 * subjectAltName entries a client matches the host against (RFC 6125). OpenSSL's
 * GENERAL_NAMES stack is walked here rather than through cffi, so no stack or union type has
 * to be declared to Python.
 */

/* subjectAltName DNS names and IP addresses as "DNS:<name>\n" and "IP:<address>\n" lines, into
 * out (always NUL-terminated when cap > 0; cut at cap). Returns the length the whole list needs
 * (without the NUL): the caller retries with more room when it is >= cap. Other name types
 * (email, URI, directory names) are left out; names with a NUL inside are skipped. */
size_t dt_x509_alt_names(X509 *x, char *out, size_t cap)
{
    GENERAL_NAMES *names = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    size_t need = 0;
    int i, n;
    char line[300];

    if (cap > 0)
        out[0] = '\0';
    if (names == NULL) {
        ERR_clear_error();   /* absent, or undecodable: either way no names */
        return 0;
    }
    n = sk_GENERAL_NAME_num(names);
    for (i = 0; i < n; i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(names, i);
        int len = 0;
        if (g->type == GEN_DNS) {
            const ASN1_IA5STRING *s = g->d.dNSName;
            if (s->length > 253 || memchr(s->data, 0, (size_t)s->length) != NULL)
                continue;
            len = snprintf(line, sizeof line, "DNS:%.*s\n", s->length, (const char *)s->data);
        } else if (g->type == GEN_IPADD) {
            const ASN1_OCTET_STRING *s = g->d.iPAddress;
            char addr[64];
            if (s->length == 4)
                snprintf(addr, sizeof addr, "%u.%u.%u.%u", s->data[0], s->data[1], s->data[2],
                         s->data[3]);
            else if (s->length == 16)
                inet_ntop(AF_INET6, s->data, addr, sizeof addr);
            else
                continue;
            len = snprintf(line, sizeof line, "IP:%s\n", addr);
        } else {
            continue;
        }
        if (len <= 0 || (size_t)len >= sizeof line)
            continue;
        if (need + (size_t)len < cap)
            memcpy(out + need, line, (size_t)len + 1);
        need += (size_t)len;
    }
    GENERAL_NAMES_free(names);
    return need;
}
