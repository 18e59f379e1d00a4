/* xdisk: writing XML text (xml-write.c), for the documents xdisk
 * creates: OVF descriptors and XVA's ova.xml.
 */
#ifndef XDISK_XML_WRITE_H
#define XDISK_XML_WRITE_H

#include <stdio.h>

/* S as XML text or attribute value: & < > " ' escaped. */
extern void xd_xml_put_escaped (FILE *fp, const char *s);

#endif /* XDISK_XML_WRITE_H */
