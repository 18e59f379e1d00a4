/* xdisk: writing XML text; see xd-xml-write.h. */

#include <config.h>

#include <stdio.h>

#include "archive/xd-xml-write.h"

void
xd_xml_put_escaped (FILE *fp, const char *s)
{
  for (; *s; s++)
    switch (*s) {
    case '&': fputs ("&amp;", fp); break;
    case '<': fputs ("&lt;", fp); break;
    case '>': fputs ("&gt;", fp); break;
    case '"': fputs ("&quot;", fp); break;
    case '\'': fputs ("&apos;", fp); break;
    default: fputc (*s, fp);
    }
}
