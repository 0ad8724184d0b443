// _lms: LMS/HSS signatures (RFC 8554, RFC 9858 SHA-256/192) from the
// portable core in core/. One binding serves the built-in user module and
// the dynamic native module (MICROPY_ENABLE_DYNRUNTIME). The CPython twin
// with the same API is tools/hourglass/lms_host.py (ctypes).
//
//   verify(pub, msg, sig) -> int          HSS encodings; 0 = valid, else
//                                         ERR_INVALID / ERR_MALFORMED / ERR_UNSUPPORTED
//   verify_lms(pub, msg, sig) -> int      bare LMS key and signature (SP 800-208)
//   Verifier(pub, sig)                    streaming: .update(data), .final() -> int;
//                                         errors in pub/sig are reported by final()
//   lms_pub_len(lms_type), lms_sig_len(lms_type, ots_type) -> int (0: unsupported)
//   compressions(reset=False) -> int | None   SHA-256 compressions (None: not counted)
//   HAS_SIGN, and if true:
//   lms_keygen(lms_type, ots_type, I, seed) -> LMS public key
//   lms_sign(lms_type, ots_type, I, seed, q, msg, nodes=None) -> LMS signature
//   lms_tree(lms_type, ots_type, I, seed) -> bytes of all tree nodes
#ifdef MICROPY_ENABLE_DYNRUNTIME
#include "py/dynruntime.h"
#else
#include "py/runtime.h"
#include "py/objstr.h"
#endif

#include "core/lms.h"

#ifdef MICROPY_ENABLE_DYNRUNTIME
// Natmods have no libc.
void *memcpy(void *dst, const void *src, size_t n) {
    return mp_fun_table.memmove_(dst, src, n);
}
void *memset(void *s, int c, size_t n) {
    return mp_fun_table.memset_(s, c, n);
}
#endif

static mp_obj_t lms_do_verify(mp_obj_t pub_in, mp_obj_t msg_in, mp_obj_t sig_in, int hss) {
    mp_buffer_info_t pub, msg, sig;
    mp_get_buffer_raise(pub_in, &pub, MP_BUFFER_READ);
    mp_get_buffer_raise(msg_in, &msg, MP_BUFFER_READ);
    mp_get_buffer_raise(sig_in, &sig, MP_BUFFER_READ);
    int ret = hss ? lms_hss_verify(pub.buf, pub.len, msg.buf, msg.len, sig.buf, sig.len)
                  : lms_verify(pub.buf, pub.len, msg.buf, msg.len, sig.buf, sig.len);
    return MP_OBJ_NEW_SMALL_INT(ret);
}

static mp_obj_t lms_mp_verify(mp_obj_t pub_in, mp_obj_t msg_in, mp_obj_t sig_in) {
    return lms_do_verify(pub_in, msg_in, sig_in, 1);
}
static MP_DEFINE_CONST_FUN_OBJ_3(lms_mp_verify_obj, lms_mp_verify);

static mp_obj_t lms_mp_verify_lms(mp_obj_t pub_in, mp_obj_t msg_in, mp_obj_t sig_in) {
    return lms_do_verify(pub_in, msg_in, sig_in, 0);
}
static MP_DEFINE_CONST_FUN_OBJ_3(lms_mp_verify_lms_obj, lms_mp_verify_lms);

static mp_obj_t lms_mp_pub_len(mp_obj_t lms_type) {
    return MP_OBJ_NEW_SMALL_INT(lms_pub_len((uint32_t)mp_obj_get_int(lms_type)));
}
static MP_DEFINE_CONST_FUN_OBJ_1(lms_mp_pub_len_obj, lms_mp_pub_len);

static mp_obj_t lms_mp_sig_len(mp_obj_t lms_type, mp_obj_t ots_type) {
    return MP_OBJ_NEW_SMALL_INT(lms_sig_len((uint32_t)mp_obj_get_int(lms_type),
        (uint32_t)mp_obj_get_int(ots_type)));
}
static MP_DEFINE_CONST_FUN_OBJ_2(lms_mp_sig_len_obj, lms_mp_sig_len);

static mp_obj_t lms_mp_compressions(size_t n_args, const mp_obj_t *args) {
    #ifdef LMS_COUNT_COMPRESSIONS
    mp_obj_t n = mp_obj_new_int_from_uint(lms_sha256_compressions);
    if (n_args > 0 && mp_obj_is_true(args[0])) {
        lms_sha256_compressions = 0;
    }
    return n;
    #else
    (void)n_args;
    (void)args;
    return mp_const_none;
    #endif
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(lms_mp_compressions_obj, 0, 1, lms_mp_compressions);

// ---------------------------------------------------------------- Verifier

typedef struct {
    mp_obj_base_t base;
    mp_obj_t sig;               // keeps the signature bytes alive (ctx points into them)
    uint8_t done;
    lms_hss_verify_ctx_t ctx;
} lms_verifier_obj_t;

#ifdef MICROPY_ENABLE_DYNRUNTIME
mp_obj_full_type_t lms_verifier_type;
#define LMS_VERIFIER_TYPE ((mp_obj_type_t *)&lms_verifier_type)
#else
static const mp_obj_type_t lms_verifier_type;
#define LMS_VERIFIER_TYPE (&lms_verifier_type)
#endif

static mp_obj_t lms_verifier_make_new(const mp_obj_type_t *type, size_t n_args, size_t n_kw,
    const mp_obj_t *args) {
    mp_arg_check_num(n_args, n_kw, 2, 2, false);
    mp_buffer_info_t pub, sig;
    mp_get_buffer_raise(args[0], &pub, MP_BUFFER_READ);
    mp_get_buffer_raise(args[1], &sig, MP_BUFFER_READ);
    lms_verifier_obj_t *self = mp_obj_malloc(lms_verifier_obj_t, type);
    // The context keeps pointers into sig until final(): hold an immutable
    // bytes object (the caller's if it is one, else a private copy).
    if (mp_obj_get_type(args[1]) == &mp_type_bytes) {
        self->sig = args[1];
    } else {
        self->sig = mp_obj_new_bytes(sig.buf, sig.len);
        mp_get_buffer_raise(self->sig, &sig, MP_BUFFER_READ);
    }
    self->done = 0;
    lms_hss_verify_init(&self->ctx, pub.buf, pub.len, sig.buf, sig.len);
    return MP_OBJ_FROM_PTR(self);
}

static mp_obj_t lms_verifier_update(mp_obj_t self_in, mp_obj_t data_in) {
    lms_verifier_obj_t *self = MP_OBJ_TO_PTR(self_in);
    if (self->done) {
        mp_raise_ValueError(MP_ERROR_TEXT("verifier is final"));
    }
    mp_buffer_info_t data;
    mp_get_buffer_raise(data_in, &data, MP_BUFFER_READ);
    lms_hss_verify_update(&self->ctx, data.buf, data.len);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_2(lms_verifier_update_obj, lms_verifier_update);

static mp_obj_t lms_verifier_final(mp_obj_t self_in) {
    lms_verifier_obj_t *self = MP_OBJ_TO_PTR(self_in);
    if (self->done) {
        mp_raise_ValueError(MP_ERROR_TEXT("verifier is final"));
    }
    self->done = 1;
    int ret = lms_hss_verify_final(&self->ctx);
    self->sig = mp_const_none;
    return MP_OBJ_NEW_SMALL_INT(ret);
}
static MP_DEFINE_CONST_FUN_OBJ_1(lms_verifier_final_obj, lms_verifier_final);

// ---------------------------------------------------------------- signing
#if defined(LMS_ENABLE_SIGN) && !defined(MICROPY_ENABLE_DYNRUNTIME)

static void lms_raise(int ret) {
    if (ret == LMS_ERR_UNSUPPORTED) {
        mp_raise_ValueError(MP_ERROR_TEXT("unsupported parameter set"));
    } else if (ret != LMS_OK) {
        mp_raise_ValueError(MP_ERROR_TEXT("bad argument"));
    }
}

typedef struct {
    uint32_t lms_type, ots_type;
    mp_buffer_info_t I, seed;
    lms_tree_param_t tree;
} lms_key_args_t;

static void lms_key_args(lms_key_args_t *k, const mp_obj_t *args) {
    k->lms_type = (uint32_t)mp_obj_get_int(args[0]);
    k->ots_type = (uint32_t)mp_obj_get_int(args[1]);
    mp_get_buffer_raise(args[2], &k->I, MP_BUFFER_READ);
    mp_get_buffer_raise(args[3], &k->seed, MP_BUFFER_READ);
    lms_ots_param_t o;
    if (lms_tree_param(k->lms_type, &k->tree) != LMS_OK || lms_ots_param(k->ots_type, &o) != LMS_OK) {
        lms_raise(LMS_ERR_UNSUPPORTED);
    }
    if (k->I.len != LMS_I_LEN) {
        mp_raise_ValueError(MP_ERROR_TEXT("I must be 16 bytes"));
    }
}

static mp_obj_t lms_mp_keygen(size_t n_args, const mp_obj_t *args) {
    (void)n_args;
    lms_key_args_t k;
    lms_key_args(&k, args);
    vstr_t vstr;
    vstr_init_len(&vstr, LMS_PUB_LEN((size_t)k.tree.m));
    lms_raise(lms_keygen((uint8_t *)vstr.buf, vstr.len, k.lms_type, k.ots_type, k.I.buf,
        k.seed.buf, k.seed.len));
    return mp_obj_new_bytes_from_vstr(&vstr);
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(lms_mp_keygen_obj, 4, 4, lms_mp_keygen);

static mp_obj_t lms_mp_tree(size_t n_args, const mp_obj_t *args) {
    (void)n_args;
    lms_key_args_t k;
    lms_key_args(&k, args);
    vstr_t vstr;
    vstr_init_len(&vstr, LMS_TREE_NODES_LEN((size_t)k.tree.m, k.tree.h));
    lms_raise(lms_tree_nodes((uint8_t *)vstr.buf, vstr.len, k.lms_type, k.ots_type, k.I.buf,
        k.seed.buf, k.seed.len));
    return mp_obj_new_bytes_from_vstr(&vstr);
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(lms_mp_tree_obj, 4, 4, lms_mp_tree);

// lms_sign(lms_type, ots_type, I, seed, q, msg, nodes=None)
static mp_obj_t lms_mp_sign(size_t n_args, const mp_obj_t *args) {
    lms_key_args_t k;
    lms_key_args(&k, args);
    mp_int_t q = mp_obj_get_int(args[4]);
    mp_buffer_info_t msg, nodes = {0};
    mp_get_buffer_raise(args[5], &msg, MP_BUFFER_READ);
    if (n_args > 6 && args[6] != mp_const_none) {
        mp_get_buffer_raise(args[6], &nodes, MP_BUFFER_READ);
        if (nodes.len != LMS_TREE_NODES_LEN((size_t)k.tree.m, k.tree.h)) {
            mp_raise_ValueError(MP_ERROR_TEXT("nodes has the wrong length"));
        }
    }
    if (q < 0 || q >= ((mp_int_t)1 << k.tree.h)) {
        mp_raise_ValueError(MP_ERROR_TEXT("q out of range"));
    }
    vstr_t vstr;
    vstr_init_len(&vstr, lms_sig_len(k.lms_type, k.ots_type));
    lms_raise(lms_sign((uint8_t *)vstr.buf, vstr.len, k.lms_type, k.ots_type, k.I.buf, k.seed.buf,
        k.seed.len, (uint32_t)q, msg.buf, msg.len, nodes.buf, nodes.len));
    return mp_obj_new_bytes_from_vstr(&vstr);
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(lms_mp_sign_obj, 6, 7, lms_mp_sign);

#define LMS_HAS_SIGN (1)
#else
#define LMS_HAS_SIGN (0)
#endif

// ---------------------------------------------------------------- registration
#ifdef MICROPY_ENABLE_DYNRUNTIME

mp_map_elem_t lms_verifier_locals_table[2];
static MP_DEFINE_CONST_DICT(lms_verifier_locals, lms_verifier_locals_table);

mp_obj_t mpy_init(mp_obj_fun_bc_t *self, size_t n_args, size_t n_kw, mp_obj_t *args) {
    MP_DYNRUNTIME_INIT_ENTRY
    lms_verifier_type.base.type = mp_fun_table.type_type;
    lms_verifier_type.name = MP_QSTR_Verifier;
    MP_OBJ_TYPE_SET_SLOT(&lms_verifier_type, make_new, &lms_verifier_make_new, 0);
    lms_verifier_locals_table[0] = (mp_map_elem_t){ MP_OBJ_NEW_QSTR(MP_QSTR_update), MP_OBJ_FROM_PTR(&lms_verifier_update_obj) };
    lms_verifier_locals_table[1] = (mp_map_elem_t){ MP_OBJ_NEW_QSTR(MP_QSTR_final), MP_OBJ_FROM_PTR(&lms_verifier_final_obj) };
    MP_OBJ_TYPE_SET_SLOT(&lms_verifier_type, locals_dict, (void *)&lms_verifier_locals, 1);

    mp_store_global(MP_QSTR___name__, MP_OBJ_NEW_QSTR(MP_QSTR__lms));
    mp_store_global(MP_QSTR_verify, MP_OBJ_FROM_PTR(&lms_mp_verify_obj));
    mp_store_global(MP_QSTR_verify_lms, MP_OBJ_FROM_PTR(&lms_mp_verify_lms_obj));
    mp_store_global(MP_QSTR_Verifier, MP_OBJ_FROM_PTR(&lms_verifier_type));
    mp_store_global(MP_QSTR_lms_pub_len, MP_OBJ_FROM_PTR(&lms_mp_pub_len_obj));
    mp_store_global(MP_QSTR_lms_sig_len, MP_OBJ_FROM_PTR(&lms_mp_sig_len_obj));
    mp_store_global(MP_QSTR_compressions, MP_OBJ_FROM_PTR(&lms_mp_compressions_obj));
    mp_store_global(MP_QSTR_ERR_INVALID, MP_OBJ_NEW_SMALL_INT(LMS_ERR_INVALID));
    mp_store_global(MP_QSTR_ERR_MALFORMED, MP_OBJ_NEW_SMALL_INT(LMS_ERR_MALFORMED));
    mp_store_global(MP_QSTR_ERR_UNSUPPORTED, MP_OBJ_NEW_SMALL_INT(LMS_ERR_UNSUPPORTED));
    mp_store_global(MP_QSTR_HAS_SIGN, mp_const_false);
    MP_DYNRUNTIME_INIT_EXIT
}

#else

static const mp_rom_map_elem_t lms_verifier_locals_table[] = {
    { MP_ROM_QSTR(MP_QSTR_update), MP_ROM_PTR(&lms_verifier_update_obj) },
    { MP_ROM_QSTR(MP_QSTR_final), MP_ROM_PTR(&lms_verifier_final_obj) },
};
static MP_DEFINE_CONST_DICT(lms_verifier_locals, lms_verifier_locals_table);

static MP_DEFINE_CONST_OBJ_TYPE(
    lms_verifier_type,
    MP_QSTR_Verifier,
    MP_TYPE_FLAG_NONE,
    make_new, lms_verifier_make_new,
    locals_dict, &lms_verifier_locals
    );

static const mp_rom_map_elem_t lms_globals_table[] = {
    { MP_ROM_QSTR(MP_QSTR___name__), MP_ROM_QSTR(MP_QSTR__lms) },
    { MP_ROM_QSTR(MP_QSTR_verify), MP_ROM_PTR(&lms_mp_verify_obj) },
    { MP_ROM_QSTR(MP_QSTR_verify_lms), MP_ROM_PTR(&lms_mp_verify_lms_obj) },
    { MP_ROM_QSTR(MP_QSTR_Verifier), MP_ROM_PTR(&lms_verifier_type) },
    { MP_ROM_QSTR(MP_QSTR_lms_pub_len), MP_ROM_PTR(&lms_mp_pub_len_obj) },
    { MP_ROM_QSTR(MP_QSTR_lms_sig_len), MP_ROM_PTR(&lms_mp_sig_len_obj) },
    { MP_ROM_QSTR(MP_QSTR_compressions), MP_ROM_PTR(&lms_mp_compressions_obj) },
    { MP_ROM_QSTR(MP_QSTR_ERR_INVALID), MP_ROM_INT(LMS_ERR_INVALID) },
    { MP_ROM_QSTR(MP_QSTR_ERR_MALFORMED), MP_ROM_INT(LMS_ERR_MALFORMED) },
    { MP_ROM_QSTR(MP_QSTR_ERR_UNSUPPORTED), MP_ROM_INT(LMS_ERR_UNSUPPORTED) },
    #if LMS_HAS_SIGN
    { MP_ROM_QSTR(MP_QSTR_HAS_SIGN), MP_ROM_TRUE },
    { MP_ROM_QSTR(MP_QSTR_lms_keygen), MP_ROM_PTR(&lms_mp_keygen_obj) },
    { MP_ROM_QSTR(MP_QSTR_lms_sign), MP_ROM_PTR(&lms_mp_sign_obj) },
    { MP_ROM_QSTR(MP_QSTR_lms_tree), MP_ROM_PTR(&lms_mp_tree_obj) },
    #else
    { MP_ROM_QSTR(MP_QSTR_HAS_SIGN), MP_ROM_FALSE },
    #endif
};
static MP_DEFINE_CONST_DICT(lms_globals, lms_globals_table);

const mp_obj_module_t lms_user_cmodule = {
    .base = { &mp_type_module },
    .globals = (mp_obj_dict_t *)&lms_globals,
};

MP_REGISTER_MODULE(MP_QSTR__lms, lms_user_cmodule);

#endif
