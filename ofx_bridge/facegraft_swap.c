/* facegraft OFX bridge: a Filter image effect that sends each Source frame to the facegraft engine service
 * (POST /v1/frame, the binary frame message) and writes the pass it gets back into Output.
 *
 * The service is found through $FACEGRAFT_HOME (default ~/.facegraft)/service/service.json and its token
 * file, or the "service" parameter (a loopback port, or a Unix socket path). Whenever the service cannot
 * be reached or answers with an error, the source passes through and a persistent message says why:
 * the host never sees a crash. Only OfxGetNumberOfPlugins and OfxGetPlugin are exported. */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "ofx_api.h"
#include "declared_options.h" /* the choices, defaults and ranges the engine declares */

#define EXPORT __attribute__((visibility("default")))
#define HEADER_SIZE 40
#define MESSAGE_ID "facegraft"

static OfxHost *host;
static const OfxPropertySuiteV1 *props;
static const OfxImageEffectSuiteV1 *effects;
static const OfxParameterSuiteV1 *params;
static const OfxMessageSuiteV2 *messages;

#define COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* -- small buffers ------------------------------------------------------------------------------------ */
typedef struct {
    unsigned char *data;
    size_t size, cap;
} Buffer;

static int buf_reserve(Buffer *b, size_t more) {
    if (b->size + more <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->size + more) cap *= 2;
    unsigned char *p = realloc(b->data, cap);
    if (!p) return -1;
    b->data = p;
    b->cap = cap;
    return 0;
}

static int buf_add(Buffer *b, const void *data, size_t n) {
    if (buf_reserve(b, n)) return -1;
    memcpy(b->data + b->size, data, n);
    b->size += n;
    return 0;
}

static int buf_printf(Buffer *b, const char *fmt, ...) {
    char tmp[4096];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0 || n >= (int)sizeof tmp) return -1;
    return buf_add(b, tmp, (size_t)n);
}

/* JSON string content with quotes and control characters escaped. */
static int buf_json_string(Buffer *b, const char *s) {
    if (buf_add(b, "\"", 1)) return -1;
    for (; s && *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            if (buf_add(b, e, 2)) return -1;
        } else if (c < 0x20) {
            if (buf_printf(b, "\\u%04x", c)) return -1;
        } else if (buf_add(b, &c, 1)) {
            return -1;
        }
    }
    return buf_add(b, "\"", 1);
}

static void put_u16(unsigned char *p, unsigned v) { p[0] = v & 0xff; p[1] = (v >> 8) & 0xff; }
static void put_u32(unsigned char *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (v >> (8 * i)) & 0xff; }
static void put_u64(unsigned char *p, uint64_t v) { for (int i = 0; i < 8; i++) p[i] = (v >> (8 * i)) & 0xff; }
static uint32_t get_u32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static unsigned get_u16(const unsigned char *p) { return (unsigned)p[0] | (unsigned)p[1] << 8; }

/* -- finding the service ------------------------------------------------------------------------------ */
typedef struct {
    int port;
    char socket_path[512];
    char token[256];
} Service;

static int read_file(const char *path, char *out, size_t cap) {
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    size_t n = fread(out, 1, cap - 1, f);
    fclose(f);
    out[n] = 0;
    return 0;
}

static void service_dir(char *out, size_t cap) {
    const char *home = getenv("FACEGRAFT_HOME");
    if (home && *home) {
        snprintf(out, cap, "%s/service", home);
    } else {
        const char *h = getenv("HOME");
        snprintf(out, cap, "%s/.facegraft/service", h ? h : ".");
    }
}

/* The value after "key": in a small flat JSON object, as text (quotes removed). */
static int json_value(const char *json, const char *key, char *out, size_t cap) {
    char pattern[64];
    snprintf(pattern, sizeof pattern, "\"%s\"", key);
    const char *p = strstr(json, pattern);
    if (!p) return -1;
    p = strchr(p + strlen(pattern), ':');
    if (!p) return -1;
    p++;
    while (*p == ' ' || *p == '\n' || *p == '\t') p++;
    size_t n = 0;
    if (*p == '"') {
        for (p++; *p && *p != '"' && n + 1 < cap; p++) {
            if (*p == '\\' && p[1]) p++;
            out[n++] = *p;
        }
    } else {
        for (; *p && *p != ',' && *p != '}' && *p != '\n' && n + 1 < cap; p++) out[n++] = *p;
    }
    out[n] = 0;
    return n ? 0 : -1;
}

static int find_service(const char *override, Service *s, char *why, size_t why_cap) {
    char dir[600], path[700], text[8192];
    memset(s, 0, sizeof *s);
    service_dir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/token", dir);
    if (read_file(path, s->token, sizeof s->token)) {
        snprintf(why, why_cap, "no engine service token at %s (start it with `facegraft serve`)", path);
        return -1;
    }
    s->token[strcspn(s->token, "\r\n ")] = 0;
    if (override && *override) {
        if (override[0] == '/') snprintf(s->socket_path, sizeof s->socket_path, "%s", override);
        else s->port = atoi(strrchr(override, ':') ? strrchr(override, ':') + 1 : override);
        return 0;
    }
    snprintf(path, sizeof path, "%s/service.json", dir);
    if (read_file(path, text, sizeof text)) {
        snprintf(why, why_cap, "the facegraft engine service is not running (no %s)", path);
        return -1;
    }
    char value[512];
    if (!json_value(text, "socket", value, sizeof value)) {
        snprintf(s->socket_path, sizeof s->socket_path, "%s", value);
    } else if (!json_value(text, "port", value, sizeof value)) {
        s->port = atoi(value);
    }
    if (!s->port && !s->socket_path[0]) {
        snprintf(why, why_cap, "%s names no port or socket", path);
        return -1;
    }
    return 0;
}

static int connect_service(const Service *s, char *why, size_t why_cap) {
    int fd;
    struct timeval tv = {600, 0};
    if (s->socket_path[0]) {
        struct sockaddr_un a = {0};
        a.sun_family = AF_UNIX;
        snprintf(a.sun_path, sizeof a.sun_path, "%s", s->socket_path);
        fd = socket(AF_UNIX, SOCK_STREAM, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a)) goto fail;
    } else {
        struct sockaddr_in a = {0};
        a.sin_family = AF_INET;
        a.sin_port = htons((uint16_t)s->port);
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK); /* loopback only, whatever the parameter says */
        fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a)) goto fail;
    }
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    return fd;
fail:
    snprintf(why, why_cap, "cannot reach the facegraft engine service (%s)", strerror(errno));
    if (fd >= 0) close(fd);
    return -1;
}

static int send_all(int fd, const unsigned char *p, size_t n) {
    while (n) {
        ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
        if (k <= 0) {
            if (k < 0 && errno == EINTR) continue;
            return -1;
        }
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

/* POST the message; on success the reply body is in *body (status in *status). */
static int post_frame(const Service *s, const Buffer *msg, int *status, Buffer *reply, size_t *body_at,
                      char *why, size_t why_cap) {
    int fd = connect_service(s, why, why_cap);
    if (fd < 0) return -1;
    Buffer head = {0};
    int rc = -1;
    if (buf_printf(&head,
                   "POST /v1/frame HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Facegraft-Token: %s\r\n"
                   "Content-Type: application/octet-stream\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
                   s->token, msg->size) ||
        send_all(fd, head.data, head.size) || send_all(fd, msg->data, msg->size)) {
        snprintf(why, why_cap, "sending the frame to the engine service failed (%s)", strerror(errno));
        goto done;
    }
    for (;;) {
        if (buf_reserve(reply, 1 << 16)) {
            snprintf(why, why_cap, "out of memory reading the reply");
            goto done;
        }
        ssize_t k = recv(fd, reply->data + reply->size, reply->cap - reply->size, 0);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) {
            snprintf(why, why_cap, "reading the engine service's reply failed (%s)", strerror(errno));
            goto done;
        }
        if (k == 0) break;
        reply->size += (size_t)k;
    }
    if (buf_add(reply, "", 1)) goto done; /* a terminating zero for the header search; not counted */
    reply->size--;
    const char *text = (const char *)reply->data;
    const char *end = strstr(text, "\r\n\r\n");
    if (reply->size < 12 || strncmp(text, "HTTP/1.", 7) || !end) {
        snprintf(why, why_cap, "the engine service sent a malformed HTTP reply");
        goto done;
    }
    *status = atoi(text + 9);
    *body_at = (size_t)(end + 4 - text);
    rc = 0;
done:
    free(head.data);
    close(fd);
    return rc;
}

/* -- images ------------------------------------------------------------------------------------------- */
typedef struct {
    OfxPropertySetHandle handle;
    unsigned char *data;
    OfxRectI bounds;
    int row_bytes;
} Image;

static int image_get(OfxImageClipHandle clip, OfxTime t, Image *im, char *why, size_t why_cap) {
    memset(im, 0, sizeof *im);
    if (effects->clipGetImage(clip, t, NULL, &im->handle) != kOfxStatOK || !im->handle) {
        snprintf(why, why_cap, "the host gave no image");
        return -1;
    }
    char *depth = NULL, *comps = NULL;
    void *data = NULL;
    props->propGetString(im->handle, kOfxImageEffectPropPixelDepth, 0, &depth);
    props->propGetString(im->handle, kOfxImageEffectPropComponents, 0, &comps);
    props->propGetPointer(im->handle, kOfxImagePropData, 0, &data);
    props->propGetIntN(im->handle, kOfxImagePropBounds, 4, &im->bounds.x1);
    props->propGetInt(im->handle, kOfxImagePropRowBytes, 0, &im->row_bytes);
    im->data = data;
    if (!depth || strcmp(depth, kOfxBitDepthFloat) || !comps || strcmp(comps, kOfxImageComponentRGBA) || !data) {
        snprintf(why, why_cap, "only float RGBA images are supported");
        return -1;
    }
    return 0;
}

static float *pixel(const Image *im, int x, int y) {
    return (float *)(im->data + (ptrdiff_t)(y - im->bounds.y1) * im->row_bytes) + 4 * (x - im->bounds.x1);
}

static int inside(const Image *im, int x, int y) {
    return x >= im->bounds.x1 && x < im->bounds.x2 && y >= im->bounds.y1 && y < im->bounds.y2;
}

static void pass_through(const Image *src, const Image *dst) {
    for (int y = dst->bounds.y1; y < dst->bounds.y2; y++)
        for (int x = dst->bounds.x1; x < dst->bounds.x2; x++) {
            float *o = pixel(dst, x, y);
            if (src->data && inside(src, x, y)) memcpy(o, pixel(src, x, y), 4 * sizeof(float));
            else memset(o, 0, 4 * sizeof(float));
        }
}

/* -- parameters ---------------------------------------------------------------------------------------- */
static OfxParamHandle param(OfxParamSetHandle set, const char *name) {
    OfxParamHandle h = NULL;
    params->paramGetHandle(set, name, &h, NULL);
    return h;
}

static const char *string_param(OfxParamSetHandle set, const char *name, OfxTime t) {
    char *v = NULL;
    OfxParamHandle h = param(set, name);
    if (h) params->paramGetValueAtTime(h, t, &v);
    return v ? v : "";
}

static double double_param(OfxParamSetHandle set, const char *name, OfxTime t) {
    double v = 0;
    OfxParamHandle h = param(set, name);
    if (h) params->paramGetValueAtTime(h, t, &v);
    return v;
}

static int choice_param(OfxParamSetHandle set, const char *name, OfxTime t, int count) {
    int v = 0;
    OfxParamHandle h = param(set, name);
    if (h) params->paramGetValueAtTime(h, t, &v);
    return v >= 0 && v < count ? v : 0;
}

/* -- actions ------------------------------------------------------------------------------------------- */
static OfxStatus describe(OfxImageEffectHandle effect) {
    OfxPropertySetHandle p;
    if (effects->getPropertySet(effect, &p)) return kOfxStatErrBadHandle;
    props->propSetString(p, kOfxPropLabel, 0, "facegraft swap");
    props->propSetString(p, kOfxImageEffectPluginPropGrouping, 0, "facegraft");
    props->propSetString(p, kOfxImageEffectPropSupportedContexts, 0, kOfxImageEffectContextFilter);
    props->propSetString(p, kOfxImageEffectPropSupportedPixelDepths, 0, kOfxBitDepthFloat);
    props->propSetInt(p, kOfxImageEffectPropSupportsTiles, 0, 0);
    props->propSetString(p, kOfxImageEffectPluginRenderThreadSafety, 0, kOfxImageEffectRenderInstanceSafe);
    return kOfxStatOK;
}

static void define_string(OfxParamSetHandle set, const char *name, const char *label, const char *hint, int is_dir) {
    OfxPropertySetHandle p;
    if (params->paramDefine(set, kOfxParamTypeString, name, &p) != kOfxStatOK) return;
    props->propSetString(p, kOfxPropLabel, 0, label);
    props->propSetString(p, kOfxParamPropHint, 0, hint);
    props->propSetString(p, kOfxParamPropDefault, 0, "");
    if (is_dir) props->propSetString(p, kOfxParamPropStringMode, 0, kOfxParamStringIsDirectoryPath);
}

static void define_choice(OfxParamSetHandle set, const char *name, const char *label, const char *hint,
                          const char *const *options, int count, int value) {
    OfxPropertySetHandle p;
    if (params->paramDefine(set, kOfxParamTypeChoice, name, &p) != kOfxStatOK) return;
    props->propSetString(p, kOfxPropLabel, 0, label);
    props->propSetString(p, kOfxParamPropHint, 0, hint);
    for (int i = 0; i < count; i++) props->propSetString(p, kOfxParamPropChoiceOption, i, options[i]);
    props->propSetInt(p, kOfxParamPropDefault, 0, value);
}

static void define_double(OfxParamSetHandle set, const char *name, const char *label, const char *hint,
                          double value, double lo, double hi) {
    OfxPropertySetHandle p;
    if (params->paramDefine(set, kOfxParamTypeDouble, name, &p) != kOfxStatOK) return;
    props->propSetString(p, kOfxPropLabel, 0, label);
    props->propSetString(p, kOfxParamPropHint, 0, hint);
    props->propSetDouble(p, kOfxParamPropDefault, 0, value);
    props->propSetDouble(p, kOfxParamPropMin, 0, lo);
    props->propSetDouble(p, kOfxParamPropMax, 0, hi);
}

static OfxStatus describe_in_context(OfxImageEffectHandle effect) {
    OfxPropertySetHandle clip;
    OfxParamSetHandle set;
    if (effects->clipDefine(effect, kOfxImageEffectSimpleSourceClipName, &clip)) return kOfxStatErrBadHandle;
    props->propSetString(clip, kOfxImageEffectPropSupportedComponents, 0, kOfxImageComponentRGBA);
    if (effects->clipDefine(effect, kOfxImageEffectOutputClipName, &clip)) return kOfxStatErrBadHandle;
    props->propSetString(clip, kOfxImageEffectPropSupportedComponents, 0, kOfxImageComponentRGBA);
    if (effects->getParamSet(effect, &set)) return kOfxStatErrBadHandle;
    define_string(set, "model", "model", "the trained model's folder", 1);
    define_string(set, "shot", "shot", "the plate's extracted shot (its landmarks); empty: detect", 1);
    define_choice(set, "pass", "pass", "the pass to bring back", PASSES, COUNT(PASSES), PASS_DEFAULT);
    define_choice(set, "colour", "colour transfer", COLOUR_HINT, COLOURS, COUNT(COLOURS), COLOUR_DEFAULT);
    define_double(set, "erode", "erode", ERODE_HINT, ERODE_DEFAULT, ERODE_MIN, ERODE_MAX);
    define_double(set, "feather", "feather", FEATHER_HINT, FEATHER_DEFAULT, FEATHER_MIN, FEATHER_MAX);
    define_string(set, "service", "service", "loopback port or Unix socket; empty: the running service", 0);
    return kOfxStatOK;
}

static void set_message(OfxImageEffectHandle effect, const char *text) {
    if (messages && messages->setPersistentMessage)
        messages->setPersistentMessage(effect, kOfxMessageError, MESSAGE_ID, "%s", text);
}

static void clear_message(OfxImageEffectHandle effect) {
    if (messages && messages->clearPersistentMessage) messages->clearPersistentMessage(effect);
}

/* Send src, write the reply into dst; 0 on success, else -1 with the reason in why. */
static int swap_frame(OfxImageEffectHandle effect, OfxParamSetHandle set, OfxTime t, const Image *src,
                      const Image *dst, char *why, size_t why_cap) {
    int w = src->bounds.x2 - src->bounds.x1, h = src->bounds.y2 - src->bounds.y1;
    if (w <= 0 || h <= 0) {
        snprintf(why, why_cap, "empty source image");
        return -1;
    }
    Service service;
    if (find_service(string_param(set, "service", t), &service, why, why_cap)) return -1;
    Buffer options = {0}, msg = {0}, reply = {0};
    int rc = -1, status = 0;
    size_t body_at = 0;
    if (buf_add(&options, "{\"model\":", 9) || buf_json_string(&options, string_param(set, "model", t)) ||
        (*string_param(set, "shot", t) &&
         (buf_add(&options, ",\"shot\":", 8) || buf_json_string(&options, string_param(set, "shot", t)))) ||
        buf_printf(&options, ",\"pass\":\"%s\",\"colour\":\"%s\",\"erode\":%.6g,\"feather\":%.6g}",
                   PASSES[choice_param(set, "pass", t, COUNT(PASSES))],
                   COLOURS[choice_param(set, "colour", t, COUNT(COLOURS))], double_param(set, "erode", t),
                   double_param(set, "feather", t)) ||
        buf_reserve(&msg, HEADER_SIZE + options.size + (size_t)w * h * 16)) {
        snprintf(why, why_cap, "out of memory");
        goto done;
    }
    unsigned char head[HEADER_SIZE] = {'F', 'G', 'F', 'R'};
    put_u16(head + 4, 1);
    put_u16(head + 6, HEADER_SIZE);
    put_u32(head + 8, (uint32_t)w);
    put_u32(head + 12, (uint32_t)h);
    put_u16(head + 16, 4);
    put_u16(head + 18, 1);
    put_u32(head + 20, (uint32_t)(int32_t)floor(t + 0.5));
    put_u64(head + 24, (uint64_t)(floor(t + 0.5)));
    put_u32(head + 32, (uint32_t)options.size);
    put_u32(head + 36, 0);
    buf_add(&msg, head, HEADER_SIZE);
    buf_add(&msg, options.data, options.size);
    for (int y = src->bounds.y2 - 1; y >= src->bounds.y1; y--) /* OFX rows run bottom-up; the wire top-down */
        buf_add(&msg, pixel(src, src->bounds.x1, y), (size_t)w * 16);
    if (effects->abort(effect)) {
        snprintf(why, why_cap, "aborted");
        goto done;
    }
    if (post_frame(&service, &msg, &status, &reply, &body_at, why, why_cap)) goto done;
    const unsigned char *body = reply.data + body_at;
    size_t n = reply.size - body_at;
    if (status != 200) {
        char err[400] = "";
        char *text = strndup((const char *)body, n);
        if (!text || json_value(text, "error", err, sizeof err)) snprintf(err, sizeof err, "HTTP status %d", status);
        free(text);
        snprintf(why, why_cap, "the engine service refused the frame: %s", err);
        goto done;
    }
    if (n < HEADER_SIZE || memcmp(body, "FGFR", 4) || get_u16(body + 4) != 1 || get_u16(body + 6) != HEADER_SIZE ||
        get_u16(body + 18) != 1) {
        snprintf(why, why_cap, "the engine service's reply is not a frame message");
        goto done;
    }
    uint32_t rw = get_u32(body + 8), rh = get_u32(body + 12), rc_ch = get_u16(body + 16);
    uint32_t opt_len = get_u32(body + 32);
    if (rw != (uint32_t)w || rh != (uint32_t)h || (rc_ch != 1 && rc_ch != 4) ||
        (uint64_t)n != (uint64_t)HEADER_SIZE + opt_len + (uint64_t)rw * rh * rc_ch * 4) {
        snprintf(why, why_cap, "the engine service's reply has the wrong size");
        goto done;
    }
    const float *out = (const float *)(body + HEADER_SIZE + opt_len);
    if (((uintptr_t)out) % sizeof(float)) { /* an odd options length leaves the pixels unaligned */
        memmove(reply.data, out, (size_t)rw * rh * rc_ch * 4);
        out = (const float *)reply.data;
    }
    for (int y = dst->bounds.y1; y < dst->bounds.y2; y++)
        for (int x = dst->bounds.x1; x < dst->bounds.x2; x++) {
            float *o = pixel(dst, x, y);
            if (!inside(src, x, y)) {
                memset(o, 0, 16);
                continue;
            }
            size_t row = (size_t)(src->bounds.y2 - 1 - y), col = (size_t)(x - src->bounds.x1);
            const float *p = out + (row * rw + col) * rc_ch;
            if (rc_ch == 4) memcpy(o, p, 16);
            else o[0] = o[1] = o[2] = o[3] = p[0];
        }
    rc = 0;
done:
    free(options.data);
    free(msg.data);
    free(reply.data);
    return rc;
}

static OfxStatus render(OfxImageEffectHandle effect, OfxPropertySetHandle in_args) {
    OfxTime t = 0;
    props->propGetDouble(in_args, kOfxPropTime, 0, &t);
    OfxImageClipHandle source_clip = NULL, output_clip = NULL;
    OfxParamSetHandle set = NULL;
    if (effects->clipGetHandle(effect, kOfxImageEffectSimpleSourceClipName, &source_clip, NULL) ||
        effects->clipGetHandle(effect, kOfxImageEffectOutputClipName, &output_clip, NULL) ||
        effects->getParamSet(effect, &set))
        return kOfxStatErrBadHandle;
    Image src = {0}, dst = {0};
    char why[600] = "";
    OfxStatus status = kOfxStatOK;
    if (image_get(output_clip, t, &dst, why, sizeof why)) {
        set_message(effect, why);
        status = kOfxStatFailed;
        goto done;
    }
    if (image_get(source_clip, t, &src, why, sizeof why) || swap_frame(effect, set, t, &src, &dst, why, sizeof why)) {
        char text[700];
        snprintf(text, sizeof text, "facegraft: %s; the source is passed through", why);
        pass_through(&src, &dst);
        set_message(effect, text);
    } else {
        clear_message(effect);
    }
done:
    if (src.handle) effects->clipReleaseImage(src.handle);
    if (dst.handle) effects->clipReleaseImage(dst.handle);
    return status;
}

static OfxStatus load(void) {
    if (!host) return kOfxStatErrMissingHostFeature;
    props = host->fetchSuite(host->host, kOfxPropertySuite, 1);
    effects = host->fetchSuite(host->host, kOfxImageEffectSuite, 1);
    params = host->fetchSuite(host->host, kOfxParameterSuite, 1);
    messages = host->fetchSuite(host->host, kOfxMessageSuite, 2);
    return props && effects && params ? kOfxStatOK : kOfxStatErrMissingHostFeature;
}

static OfxStatus main_entry(const char *action, const void *handle, OfxPropertySetHandle in_args,
                            OfxPropertySetHandle out_args) {
    (void)out_args;
    OfxImageEffectHandle effect = (OfxImageEffectHandle)handle;
    if (!strcmp(action, kOfxActionLoad)) return load();
    if (!props || !effects || !params) return kOfxStatErrMissingHostFeature;
    if (!strcmp(action, kOfxActionDescribe)) return describe(effect);
    if (!strcmp(action, kOfxImageEffectActionDescribeInContext)) return describe_in_context(effect);
    if (!strcmp(action, kOfxImageEffectActionRender)) return render(effect, in_args);
    return kOfxStatReplyDefault;
}

static void set_host(OfxHost *h) { host = h; }

static OfxPlugin plugin = {
    kOfxImageEffectPluginApi, 1, "com.facegraft.swap", 0, 1, set_host, main_entry,
};

EXPORT int OfxGetNumberOfPlugins(void) { return 1; }

EXPORT OfxPlugin *OfxGetPlugin(int nth) { return nth == 0 ? &plugin : NULL; }
