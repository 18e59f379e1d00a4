/* xdisk: a small XML tree for appliance metadata (OVF descriptors,
 * XVA ova.xml), read by expat (xml.c).
 *
 * The whole document becomes a tree of elements.  Names are kept
 * without their namespace prefix ("ovf:Disk" is "Disk", "ovf:href" is
 * "href"): the metadata this pack reads never needs two namespaces'
 * elements of the same name told apart.  Character and the five
 * predefined entity references are decoded; comments and processing
 * instructions are skipped; CDATA sections are text; a DOCTYPE is
 * refused (so no entity can be declared, nor expand).  Nesting depth,
 * attributes per element and the number of elements are bounded, so a
 * hostile document cannot exhaust the stack or memory.
 */
#ifndef XDISK_XML_H
#define XDISK_XML_H

#include <stddef.h>

#define XD_XML_MAX_DEPTH 64
#define XD_XML_MAX_NODES 2000000

struct xd_xml_attr {
  char *name;
  char *value;
};

struct xd_xml {
  char *name;                   /* local name */
  struct xd_xml_attr *attrs;
  size_t nattrs, attrs_cap;
  char *text;                   /* the element's own text, "" if none */
  struct xd_xml *parent, *child, *next;
  struct xd_xml *last;           /* the last child, while parsing */
};

/* Parse LEN bytes of BUF.  NULL after reporting an error naming FILE
 * and the line of the problem, with errno EIO.
 */
extern struct xd_xml *xd_xml_parse (const char *buf, size_t len,
                                    const char *file);
extern void xd_xml_free (struct xd_xml *root);

/* The value of the attribute with local name NAME, or NULL. */
extern const char *xd_xml_attr (const struct xd_xml *e, const char *name);
/* The first child element called NAME after AFTER (NULL: the first). */
extern const struct xd_xml *xd_xml_child (const struct xd_xml *e,
                                          const char *name,
                                          const struct xd_xml *after);
/* The next element called NAME in document order after E, within the
 * subtree of ROOT, or NULL: walks the whole tree.
 */
extern const struct xd_xml *xd_xml_next (const struct xd_xml *root,
                                         const struct xd_xml *e,
                                         const char *name);

#endif /* XDISK_XML_H */
