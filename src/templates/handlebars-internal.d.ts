/** Handlebars' prototype-access rules (its `internal/proto-access.js`), which its runtime builds per render. */
declare module 'handlebars/dist/cjs/handlebars/internal/proto-access.js' {
  export interface ProtoAccessControl {
    readonly properties: { readonly whitelist: Record<string, boolean>; readonly defaultValue: boolean | undefined };
    readonly methods: { readonly whitelist: Record<string, boolean>; readonly defaultValue: boolean | undefined };
  }
  export function createProtoAccessControl(runtimeOptions: {
    readonly allowedProtoProperties?: Record<string, boolean>;
    readonly allowedProtoMethods?: Record<string, boolean>;
    readonly allowProtoPropertiesByDefault?: boolean;
    readonly allowProtoMethodsByDefault?: boolean;
  }): ProtoAccessControl;
}
