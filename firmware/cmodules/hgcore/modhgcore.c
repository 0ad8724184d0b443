// _hgcore: C helpers for the crypto seam (lib/hgcrypto uses them when present).
// One binding serves the built-in user module and the dynamic native module.
#ifdef MICROPY_ENABLE_DYNRUNTIME
#include "py/dynruntime.h"
#else
#include "py/runtime.h"
#endif
#include "core/hg_bytes.h"

// ct_equal(a, b) -> bool: constant time for equal lengths; unequal lengths are
// public information and return False at once.
static mp_obj_t hgcore_ct_equal(mp_obj_t a_in, mp_obj_t b_in) {
    mp_buffer_info_t a, b;
    mp_get_buffer_raise(a_in, &a, MP_BUFFER_READ);
    mp_get_buffer_raise(b_in, &b, MP_BUFFER_READ);
    if (a.len != b.len) {
        return mp_const_false;
    }
    return mp_obj_new_bool(hg_ct_equal(a.buf, b.buf, a.len));
}
static MP_DEFINE_CONST_FUN_OBJ_2(hgcore_ct_equal_obj, hgcore_ct_equal);

// xor_into(dst, a, b): dst[i] = a[i] ^ b[i]; all three the same length.
// Writes into the caller's buffer so hot loops allocate nothing.
static mp_obj_t hgcore_xor_into(mp_obj_t dst_in, mp_obj_t a_in, mp_obj_t b_in) {
    mp_buffer_info_t dst, a, b;
    mp_get_buffer_raise(dst_in, &dst, MP_BUFFER_WRITE);
    mp_get_buffer_raise(a_in, &a, MP_BUFFER_READ);
    mp_get_buffer_raise(b_in, &b, MP_BUFFER_READ);
    if (a.len != dst.len || b.len != dst.len) {
        mp_raise_ValueError(MP_ERROR_TEXT("length mismatch"));
    }
    hg_xor(dst.buf, a.buf, b.buf, dst.len);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_3(hgcore_xor_into_obj, hgcore_xor_into);

#ifdef MICROPY_ENABLE_DYNRUNTIME

mp_obj_t mpy_init(mp_obj_fun_bc_t *self, size_t n_args, size_t n_kw, mp_obj_t *args) {
    MP_DYNRUNTIME_INIT_ENTRY
    mp_store_global(MP_QSTR_ct_equal, MP_OBJ_FROM_PTR(&hgcore_ct_equal_obj));
    mp_store_global(MP_QSTR_xor_into, MP_OBJ_FROM_PTR(&hgcore_xor_into_obj));
    MP_DYNRUNTIME_INIT_EXIT
}

#else

static const mp_rom_map_elem_t hgcore_globals_table[] = {
    { MP_ROM_QSTR(MP_QSTR___name__), MP_ROM_QSTR(MP_QSTR__hgcore) },
    { MP_ROM_QSTR(MP_QSTR_ct_equal), MP_ROM_PTR(&hgcore_ct_equal_obj) },
    { MP_ROM_QSTR(MP_QSTR_xor_into), MP_ROM_PTR(&hgcore_xor_into_obj) },
};
static MP_DEFINE_CONST_DICT(hgcore_globals, hgcore_globals_table);

const mp_obj_module_t hgcore_user_cmodule = {
    .base = { &mp_type_module },
    .globals = (mp_obj_dict_t *)&hgcore_globals,
};

MP_REGISTER_MODULE(MP_QSTR__hgcore, hgcore_user_cmodule);

#endif
