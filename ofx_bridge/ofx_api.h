/* The parts of the OpenFX image-effect API that the facegraft bridge uses, declared by this project from
 * the OpenFX specification (openeffects.org): plug-in and host structures, the property, image-effect,
 * parameter and message suites, and the string names of the actions and properties it touches.
 * Suites are tables of function pointers in the order the specification gives; only the leading
 * entries this plug-in calls are declared, so the tables must never be allocated from these types. */
#ifndef FACEGRAFT_OFX_API_H
#define FACEGRAFT_OFX_API_H

typedef int OfxStatus;
#define kOfxStatOK 0
#define kOfxStatFailed 1
#define kOfxStatErrFatal 2
#define kOfxStatErrUnknown 3
#define kOfxStatErrMissingHostFeature 4
#define kOfxStatErrUnsupported 5
#define kOfxStatErrBadHandle 9
#define kOfxStatErrValue 11
#define kOfxStatReplyDefault 14

typedef double OfxTime;
typedef struct { double x1, y1, x2, y2; } OfxRectD;
typedef struct { int x1, y1, x2, y2; } OfxRectI;

typedef struct OfxPropertySetStruct *OfxPropertySetHandle;
typedef struct OfxImageEffectStruct *OfxImageEffectHandle;
typedef struct OfxImageClipStruct *OfxImageClipHandle;
typedef struct OfxParamSetStruct *OfxParamSetHandle;
typedef struct OfxParamStruct *OfxParamHandle;

typedef struct OfxHost {
    OfxPropertySetHandle host;
    const void *(*fetchSuite)(OfxPropertySetHandle host, const char *suiteName, int suiteVersion);
} OfxHost;

typedef OfxStatus (*OfxPluginEntryPoint)(const char *action, const void *handle, OfxPropertySetHandle inArgs,
                                         OfxPropertySetHandle outArgs);

typedef struct OfxPlugin {
    const char *pluginApi;
    int apiVersion;
    const char *pluginIdentifier;
    unsigned int pluginVersionMajor;
    unsigned int pluginVersionMinor;
    void (*setHost)(OfxHost *host);
    OfxPluginEntryPoint mainEntry;
} OfxPlugin;

typedef struct OfxPropertySuiteV1 {
    OfxStatus (*propSetPointer)(OfxPropertySetHandle p, const char *name, int index, void *value);
    OfxStatus (*propSetString)(OfxPropertySetHandle p, const char *name, int index, const char *value);
    OfxStatus (*propSetDouble)(OfxPropertySetHandle p, const char *name, int index, double value);
    OfxStatus (*propSetInt)(OfxPropertySetHandle p, const char *name, int index, int value);
    OfxStatus (*propSetPointerN)(OfxPropertySetHandle p, const char *name, int count, void *const *value);
    OfxStatus (*propSetStringN)(OfxPropertySetHandle p, const char *name, int count, const char *const *value);
    OfxStatus (*propSetDoubleN)(OfxPropertySetHandle p, const char *name, int count, const double *value);
    OfxStatus (*propSetIntN)(OfxPropertySetHandle p, const char *name, int count, const int *value);
    OfxStatus (*propGetPointer)(OfxPropertySetHandle p, const char *name, int index, void **value);
    OfxStatus (*propGetString)(OfxPropertySetHandle p, const char *name, int index, char **value);
    OfxStatus (*propGetDouble)(OfxPropertySetHandle p, const char *name, int index, double *value);
    OfxStatus (*propGetInt)(OfxPropertySetHandle p, const char *name, int index, int *value);
    OfxStatus (*propGetPointerN)(OfxPropertySetHandle p, const char *name, int count, void **value);
    OfxStatus (*propGetStringN)(OfxPropertySetHandle p, const char *name, int count, char **value);
    OfxStatus (*propGetDoubleN)(OfxPropertySetHandle p, const char *name, int count, double *value);
    OfxStatus (*propGetIntN)(OfxPropertySetHandle p, const char *name, int count, int *value);
    OfxStatus (*propReset)(OfxPropertySetHandle p, const char *name);
    OfxStatus (*propGetDimension)(OfxPropertySetHandle p, const char *name, int *count);
} OfxPropertySuiteV1;

typedef struct OfxImageEffectSuiteV1 {
    OfxStatus (*getPropertySet)(OfxImageEffectHandle effect, OfxPropertySetHandle *props);
    OfxStatus (*getParamSet)(OfxImageEffectHandle effect, OfxParamSetHandle *params);
    OfxStatus (*clipDefine)(OfxImageEffectHandle effect, const char *name, OfxPropertySetHandle *props);
    OfxStatus (*clipGetHandle)(OfxImageEffectHandle effect, const char *name, OfxImageClipHandle *clip,
                               OfxPropertySetHandle *props);
    OfxStatus (*clipGetPropertySet)(OfxImageClipHandle clip, OfxPropertySetHandle *props);
    OfxStatus (*clipGetImage)(OfxImageClipHandle clip, OfxTime time, const OfxRectD *region,
                              OfxPropertySetHandle *image);
    OfxStatus (*clipReleaseImage)(OfxPropertySetHandle image);
    OfxStatus (*clipGetRegionOfDefinition)(OfxImageClipHandle clip, OfxTime time, OfxRectD *bounds);
    int (*abort)(OfxImageEffectHandle effect);
    /* image memory functions follow in the specification; not used here */
} OfxImageEffectSuiteV1;

typedef struct OfxParameterSuiteV1 {
    OfxStatus (*paramDefine)(OfxParamSetHandle set, const char *type, const char *name, OfxPropertySetHandle *props);
    OfxStatus (*paramGetHandle)(OfxParamSetHandle set, const char *name, OfxParamHandle *param,
                                OfxPropertySetHandle *props);
    OfxStatus (*paramSetGetPropertySet)(OfxParamSetHandle set, OfxPropertySetHandle *props);
    OfxStatus (*paramGetPropertySet)(OfxParamHandle param, OfxPropertySetHandle *props);
    OfxStatus (*paramGetValue)(OfxParamHandle param, ...);
    OfxStatus (*paramGetValueAtTime)(OfxParamHandle param, OfxTime time, ...);
    /* derivatives, integrals, setting values and keys follow in the specification; not used here */
} OfxParameterSuiteV1;

typedef struct OfxMessageSuiteV2 {
    OfxStatus (*message)(void *handle, const char *type, const char *id, const char *format, ...);
    OfxStatus (*setPersistentMessage)(void *handle, const char *type, const char *id, const char *format, ...);
    OfxStatus (*clearPersistentMessage)(void *handle);
} OfxMessageSuiteV2;

/* suites */
#define kOfxPropertySuite "OfxPropertySuite"
#define kOfxImageEffectSuite "OfxImageEffectSuite"
#define kOfxParameterSuite "OfxParameterSuite"
#define kOfxMessageSuite "OfxMessageSuite"
#define kOfxImageEffectPluginApi "OfxImageEffectPluginAPI"

/* actions */
#define kOfxActionLoad "OfxActionLoad"
#define kOfxActionUnload "OfxActionUnload"
#define kOfxActionDescribe "OfxActionDescribe"
#define kOfxImageEffectActionDescribeInContext "OfxImageEffectActionDescribeInContext"
#define kOfxImageEffectActionRender "OfxImageEffectActionRender"

/* properties and values */
#define kOfxPropLabel "OfxPropLabel"
#define kOfxPropTime "OfxPropTime"
#define kOfxImageEffectPluginPropGrouping "OfxImageEffectPluginPropGrouping"
#define kOfxImageEffectPropSupportedContexts "OfxImageEffectPropSupportedContexts"
#define kOfxImageEffectContextFilter "OfxImageEffectContextFilter"
#define kOfxImageEffectPropSupportedPixelDepths "OfxImageEffectPropSupportedPixelDepths"
#define kOfxBitDepthFloat "OfxBitDepthFloat"
#define kOfxImageEffectPropSupportedComponents "OfxImageEffectPropSupportedComponents"
#define kOfxImageComponentRGBA "OfxImageComponentRGBA"
#define kOfxImageEffectPropSupportsTiles "OfxImageEffectPropSupportsTiles"
#define kOfxImageEffectPluginRenderThreadSafety "OfxImageEffectPluginRenderThreadSafety"
#define kOfxImageEffectRenderInstanceSafe "OfxImageEffectRenderInstanceSafe"
#define kOfxImagePropData "OfxImagePropData"
#define kOfxImagePropBounds "OfxImagePropBounds"
#define kOfxImagePropRowBytes "OfxImagePropRowBytes"
#define kOfxImageEffectPropPixelDepth "OfxImageEffectPropPixelDepth"
#define kOfxImageEffectPropComponents "OfxImageEffectPropComponents"
#define kOfxImageEffectOutputClipName "Output"
#define kOfxImageEffectSimpleSourceClipName "Source"

/* parameters */
#define kOfxParamTypeString "OfxParamTypeString"
#define kOfxParamTypeChoice "OfxParamTypeChoice"
#define kOfxParamTypeDouble "OfxParamTypeDouble"
#define kOfxParamPropDefault "OfxParamPropDefault"
#define kOfxParamPropHint "OfxParamPropHint"
#define kOfxParamPropChoiceOption "OfxParamPropChoiceOption"
#define kOfxParamPropStringMode "OfxParamPropStringMode"
#define kOfxParamPropMin "OfxParamPropMin"
#define kOfxParamPropMax "OfxParamPropMax"
#define kOfxParamStringIsDirectoryPath "OfxParamStringIsDirectoryPath"

/* messages */
#define kOfxMessageError "OfxMessageError"

#endif
